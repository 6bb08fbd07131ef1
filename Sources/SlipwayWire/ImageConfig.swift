// Wire types of the upstream Image Config API (api version 2022-09-01-00).
// Field names, optionality and defaults follow the upstream contract exactly; the server and the
// SDK both encode and decode these, so the wire format is written down once.

/// Commands and arguments to run in the container.
public struct CustomImageCommandsAndArgs: Codable, Sendable, Equatable {
    /// Arguments to pass to the container.
    public var args: [String]?
    /// Commands to run in the container.
    public var commands: [String]?

    public init(args: [String]? = nil, commands: [String]? = nil) {
        self.args = args
        self.commands = commands
    }
}

/// Body of `POST /2022-09-01-00/service/{serviceId}/image-config`.
public struct CreateImageConfigRequest: Codable, Sendable, Equatable {
    public var customImageCommandsAndArgs: CustomImageCommandsAndArgs?
    public var description: String
    public var imageName: String
    /// Defaults to the organization's default registry.
    public var imageRegistryId: String?
    public var imageSignaturePublicKeyPEM: String?
    /// Defaults to `latest`.
    public var imageTag: String?
    public var serviceEnvironmentId: String

    public init(
        description: String, imageName: String, serviceEnvironmentId: String, imageTag: String? = nil,
        imageRegistryId: String? = nil, imageSignaturePublicKeyPEM: String? = nil,
        customImageCommandsAndArgs: CustomImageCommandsAndArgs? = nil
    ) {
        self.description = description
        self.imageName = imageName
        self.serviceEnvironmentId = serviceEnvironmentId
        self.imageTag = imageTag
        self.imageRegistryId = imageRegistryId
        self.imageSignaturePublicKeyPEM = imageSignaturePublicKeyPEM
        self.customImageCommandsAndArgs = customImageCommandsAndArgs
    }
}

/// Body of `PATCH /2022-09-01-00/service/{serviceId}/image-config/{id}`: only the fields sent change.
public struct UpdateImageConfigRequest: Codable, Sendable, Equatable {
    public var customImageCommandsAndArgs: CustomImageCommandsAndArgs?
    public var description: String?
    public var imageName: String?
    public var imageRegistryId: String?
    public var imageSignaturePublicKeyPEM: String?
    public var imageTag: String?

    public init(
        description: String? = nil, imageName: String? = nil, imageTag: String? = nil, imageRegistryId: String? = nil,
        imageSignaturePublicKeyPEM: String? = nil, customImageCommandsAndArgs: CustomImageCommandsAndArgs? = nil
    ) {
        self.description = description
        self.imageName = imageName
        self.imageTag = imageTag
        self.imageRegistryId = imageRegistryId
        self.imageSignaturePublicKeyPEM = imageSignaturePublicKeyPEM
        self.customImageCommandsAndArgs = customImageCommandsAndArgs
    }
}

/// Response of `GET /2022-09-01-00/service/{serviceId}/image-config/{id}`.
///
/// Every field the contract marks required is always present, even when empty: the Go SDK rejects a
/// response that lacks one. `productTierId` and `productTierVersion` are extensions, set when the
/// response describes a released snapshot rather than the working copy.
public struct DescribeImageConfigResult: Codable, Sendable, Equatable {
    public var customImageCommandsAndArgs: CustomImageCommandsAndArgs?
    public var description: String
    public var id: String
    public var imageName: String
    public var imageRegistryId: String
    public var imageSignaturePublicKeyPEM: String?
    public var imageTag: String
    public var serviceEnvironmentId: String
    public var serviceId: String
    public var productTierId: String?
    public var productTierVersion: String?

    public init(
        id: String, serviceId: String, serviceEnvironmentId: String, description: String, imageName: String,
        imageTag: String, imageRegistryId: String, imageSignaturePublicKeyPEM: String?,
        customImageCommandsAndArgs: CustomImageCommandsAndArgs?, productTierId: String? = nil, productTierVersion: String? = nil
    ) {
        self.id = id
        self.serviceId = serviceId
        self.serviceEnvironmentId = serviceEnvironmentId
        self.description = description
        self.imageName = imageName
        self.imageTag = imageTag
        self.imageRegistryId = imageRegistryId
        self.imageSignaturePublicKeyPEM = imageSignaturePublicKeyPEM
        self.customImageCommandsAndArgs = customImageCommandsAndArgs
        self.productTierId = productTierId
        self.productTierVersion = productTierVersion
    }
}

/// Response of `GET /2022-09-01-00/service/{serviceId}/serviceenvironment/{serviceEnvironmentId}/image-config`.
public struct ListImageConfigsResult: Codable, Sendable, Equatable {
    public var ids: [String]
    public var nextPageToken: String?

    public init(ids: [String], nextPageToken: String? = nil) {
        self.ids = ids
        self.nextPageToken = nextPageToken
    }
}

/// Body of `POST …/image-config/{id}/release`. Without a tier, every product tier of the environment gets a version.
public struct ReleaseImageConfigRequest: Codable, Sendable, Equatable {
    public var productTierId: String?

    public init(productTierId: String? = nil) {
        self.productTierId = productTierId
    }
}

/// Response of `GET …/image-config/{id}/rollout`.
public struct RolloutFleetImageStatusResult: Codable, Sendable, Equatable {
    /// One of `PENDING`, `PENDING_DEPENDENCY`, `RUNNING`, `PAUSED`, `COMPLETE`, `FAILED`, `CANCELLED`.
    public var status: String

    public init(status: String) {
        self.status = status
    }
}
