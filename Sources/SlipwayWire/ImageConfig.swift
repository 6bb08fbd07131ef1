// Wire types of the upstream Image Config API (api version 2022-09-01-00).
// Field names, optionality and defaults follow the upstream contract exactly; the server and the
// SDK both encode and decode these, so the wire format is written down once.

/// Commands and arguments to run in the container.
public struct CustomImageCommandsAndArgs: Codable, Sendable, Equatable {
    /// Arguments to pass to the container.
    public var args: [String]?
    /// Commands to run in the container.
    public var commands: [String]?

    /// Creates the commands and arguments; a list left nil is not set.
    public init(args: [String]? = nil, commands: [String]? = nil) {
        self.args = args
        self.commands = commands
    }
}

/// Body of `POST /2022-09-01-00/service/{serviceId}/image-config`.
public struct CreateImageConfigRequest: Codable, Sendable, Equatable {
    /// Commands and arguments to run in the container, if any.
    public var customImageCommandsAndArgs: CustomImageCommandsAndArgs?
    /// A brief description of the image config (at most 1024 bytes of UTF-8).
    public var description: String
    /// Name of the container image, e.g. `mysql` or `acme/api-server`.
    public var imageName: String
    /// Defaults to the organization's default registry.
    public var imageRegistryId: String?
    /// PEM public key of the key the image is signed with, if any.
    public var imageSignaturePublicKeyPEM: String?
    /// Defaults to `latest`.
    public var imageTag: String?
    /// The service environment the image config belongs to (`se-…`).
    public var serviceEnvironmentId: String

    /// Creates the request body; fields left nil keep their defaults.
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
    /// New commands and arguments; nil leaves them unchanged.
    public var customImageCommandsAndArgs: CustomImageCommandsAndArgs?
    /// New description; nil leaves it unchanged.
    public var description: String?
    /// New image name; nil leaves it unchanged.
    public var imageName: String?
    /// New image registry (`ir-…`); nil leaves it unchanged.
    public var imageRegistryId: String?
    /// New signing public key (PEM); an empty string removes it, nil leaves it unchanged.
    public var imageSignaturePublicKeyPEM: String?
    /// New image tag; nil leaves it unchanged.
    public var imageTag: String?

    /// Creates the request body; fields left nil are not changed.
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
    /// Commands and arguments to run in the container, if set.
    public var customImageCommandsAndArgs: CustomImageCommandsAndArgs?
    /// A brief description of the image config.
    public var description: String
    /// The image config id (`imgc-…`).
    public var id: String
    /// Name of the container image.
    public var imageName: String
    /// The image registry the image comes from (`ir-…`).
    public var imageRegistryId: String
    /// PEM public key of the key the image is signed with, if set.
    public var imageSignaturePublicKeyPEM: String?
    /// The image tag, e.g. `latest`.
    public var imageTag: String
    /// The service environment the image config belongs to (`se-…`).
    public var serviceEnvironmentId: String
    /// The service the image config belongs to (`s-…`).
    public var serviceId: String
    /// The product tier of the released snapshot (`pt-…`); nil for the working copy.
    public var productTierId: String?
    /// The tier version of the released snapshot, e.g. `1.0`; nil for the working copy.
    public var productTierVersion: String?
    /// The manifest digest (`sha256:…`) the released snapshot pins; nil for the working copy and for unverified registries.
    public var imageDigest: String?

    /// Creates the response body.
    public init(
        id: String, serviceId: String, serviceEnvironmentId: String, description: String, imageName: String,
        imageTag: String, imageRegistryId: String, imageSignaturePublicKeyPEM: String?,
        customImageCommandsAndArgs: CustomImageCommandsAndArgs?, productTierId: String? = nil, productTierVersion: String? = nil,
        imageDigest: String? = nil
    ) {
        self.imageDigest = imageDigest
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
    /// One page of image config ids (`imgc-…`).
    public var ids: [String]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(ids: [String], nextPageToken: String? = nil) {
        self.ids = ids
        self.nextPageToken = nextPageToken
    }
}

/// Body of `POST …/image-config/{id}/release`. Without a tier, every product tier of the environment gets a version.
public struct ReleaseImageConfigRequest: Codable, Sendable, Equatable {
    /// The product tier to release in (`pt-…`); nil for every tier of the environment.
    public var productTierId: String?
    /// Slipway extension: what changed, kept with each new tier version (at most 16 KiB).
    public var releaseNotes: String?

    /// Creates the request body.
    public init(productTierId: String? = nil, releaseNotes: String? = nil) {
        self.productTierId = productTierId
        self.releaseNotes = releaseNotes
    }
}

/// Response of `GET …/image-config/{id}/rollout`.
public struct RolloutFleetImageStatusResult: Codable, Sendable, Equatable {
    /// One of `PENDING`, `PENDING_DEPENDENCY`, `RUNNING`, `PAUSED`, `COMPLETE`, `FAILED`, `CANCELLED`.
    public var status: String

    /// Creates the response body.
    public init(status: String) {
        self.status = status
    }
}
