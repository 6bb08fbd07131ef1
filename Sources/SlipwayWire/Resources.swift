// Wire types of Slipway's extensions around image configs: services, environments, product tiers,
// image registries and tier version sets. Same prefix, auth and error format as the upstream API.

/// Body of `POST /2022-09-01-00/service`.
public struct CreateServiceRequest: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?

    public init(name: String, description: String? = nil) {
        self.name = name
        self.description = description
    }
}

/// A service `s-…`.
public struct ServiceResult: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var description: String
    public var createdAt: String

    public init(id: String, name: String, description: String, createdAt: String) {
        self.id = id
        self.name = name
        self.description = description
        self.createdAt = createdAt
    }
}

/// Response of `GET /2022-09-01-00/service`.
public struct ListServicesResult: Codable, Sendable, Equatable {
    public var services: [ServiceResult]
    public var nextPageToken: String?

    public init(services: [ServiceResult], nextPageToken: String? = nil) {
        self.services = services
        self.nextPageToken = nextPageToken
    }
}

/// Body of `POST /2022-09-01-00/service/{serviceId}/environment`.
public struct CreateServiceEnvironmentRequest: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    /// `dev`, `qa`, `staging`, `canary`, `prod` or `private`; defaults to `dev`.
    public var type: String?

    public init(name: String, description: String? = nil, type: String? = nil) {
        self.name = name
        self.description = description
        self.type = type
    }
}

/// A service environment `se-…`.
public struct ServiceEnvironmentResult: Codable, Sendable, Equatable {
    public var id: String
    public var serviceId: String
    public var name: String
    public var description: String
    public var type: String
    public var createdAt: String

    public init(id: String, serviceId: String, name: String, description: String, type: String, createdAt: String) {
        self.id = id
        self.serviceId = serviceId
        self.name = name
        self.description = description
        self.type = type
        self.createdAt = createdAt
    }
}

/// Response of `GET /2022-09-01-00/service/{serviceId}/environment`.
public struct ListServiceEnvironmentsResult: Codable, Sendable, Equatable {
    public var serviceEnvironments: [ServiceEnvironmentResult]
    public var nextPageToken: String?

    public init(serviceEnvironments: [ServiceEnvironmentResult], nextPageToken: String? = nil) {
        self.serviceEnvironments = serviceEnvironments
        self.nextPageToken = nextPageToken
    }
}

/// Body of `POST /2022-09-01-00/service/{serviceId}/product-tier`.
public struct CreateProductTierRequest: Codable, Sendable, Equatable {
    public var name: String
    public var description: String?
    public var serviceEnvironmentId: String

    public init(name: String, serviceEnvironmentId: String, description: String? = nil) {
        self.name = name
        self.serviceEnvironmentId = serviceEnvironmentId
        self.description = description
    }
}

/// A product tier `pt-…`.
public struct ProductTierResult: Codable, Sendable, Equatable {
    public var id: String
    public var serviceId: String
    public var serviceEnvironmentId: String
    public var name: String
    public var description: String
    /// The version new instances and rollouts move to, once something was released.
    public var preferredVersion: String?
    public var createdAt: String

    public init(
        id: String, serviceId: String, serviceEnvironmentId: String, name: String, description: String, preferredVersion: String?,
        createdAt: String
    ) {
        self.id = id
        self.serviceId = serviceId
        self.serviceEnvironmentId = serviceEnvironmentId
        self.name = name
        self.description = description
        self.preferredVersion = preferredVersion
        self.createdAt = createdAt
    }
}

/// Response of `GET /2022-09-01-00/service/{serviceId}/product-tier`.
public struct ListProductTiersResult: Codable, Sendable, Equatable {
    public var productTiers: [ProductTierResult]
    public var nextPageToken: String?

    public init(productTiers: [ProductTierResult], nextPageToken: String? = nil) {
        self.productTiers = productTiers
        self.nextPageToken = nextPageToken
    }
}

/// Body of `POST /2022-09-01-00/image-registry`.
public struct CreateImageRegistryRequest: Codable, Sendable, Equatable {
    public var name: String
    /// Host and optional port, e.g. `ghcr.io` or `127.0.0.1:5000`.
    public var host: String
    public var username: String?
    public var password: String?

    public init(name: String, host: String, username: String? = nil, password: String? = nil) {
        self.name = name
        self.host = host
        self.username = username
        self.password = password
    }
}

/// An image registry `ir-…`. The password is never returned.
public struct ImageRegistryResult: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var host: String
    public var username: String?
    public var hasPassword: Bool
    public var isDefault: Bool
    public var createdAt: String

    public init(id: String, name: String, host: String, username: String?, hasPassword: Bool, isDefault: Bool, createdAt: String) {
        self.id = id
        self.name = name
        self.host = host
        self.username = username
        self.hasPassword = hasPassword
        self.isDefault = isDefault
        self.createdAt = createdAt
    }
}

/// Response of `GET /2022-09-01-00/image-registry`.
public struct ListImageRegistriesResult: Codable, Sendable, Equatable {
    public var imageRegistries: [ImageRegistryResult]
    public var nextPageToken: String?

    public init(imageRegistries: [ImageRegistryResult], nextPageToken: String? = nil) {
        self.imageRegistries = imageRegistries
        self.nextPageToken = nextPageToken
    }
}

/// An image config as a tier version pins it: an immutable snapshot.
public struct ImageConfigSnapshotResult: Codable, Sendable, Equatable {
    public var imageConfigId: String
    public var description: String
    public var imageName: String
    public var imageTag: String
    public var imageRegistryId: String
    /// The registry host at release time, so the full reference is `registryHost/imageName:imageTag`.
    public var imageRegistryHost: String
    public var imageSignaturePublicKeyPEM: String?
    public var customImageCommandsAndArgs: CustomImageCommandsAndArgs?

    public init(
        imageConfigId: String, description: String, imageName: String, imageTag: String, imageRegistryId: String,
        imageRegistryHost: String, imageSignaturePublicKeyPEM: String?, customImageCommandsAndArgs: CustomImageCommandsAndArgs?
    ) {
        self.imageConfigId = imageConfigId
        self.description = description
        self.imageName = imageName
        self.imageTag = imageTag
        self.imageRegistryId = imageRegistryId
        self.imageRegistryHost = imageRegistryHost
        self.imageSignaturePublicKeyPEM = imageSignaturePublicKeyPEM
        self.customImageCommandsAndArgs = customImageCommandsAndArgs
    }
}

/// A tier version (version set) of a product tier.
public struct TierVersionSetResult: Codable, Sendable, Equatable {
    public var serviceId: String
    public var productTierId: String
    /// `1.0`, `2.0`, …
    public var version: String
    /// `Pending`, `Active`, `Preferred` or `Deprecated`.
    public var status: String
    /// `Major`: each release cuts a new major version.
    public var type: String
    /// RFC 3339, UTC.
    public var releasedAt: String
    /// Email of the user who released it.
    public var releasedBy: String
    public var imageConfigs: [ImageConfigSnapshotResult]

    public init(
        serviceId: String, productTierId: String, version: String, status: String, type: String, releasedAt: String,
        releasedBy: String, imageConfigs: [ImageConfigSnapshotResult]
    ) {
        self.serviceId = serviceId
        self.productTierId = productTierId
        self.version = version
        self.status = status
        self.type = type
        self.releasedAt = releasedAt
        self.releasedBy = releasedBy
        self.imageConfigs = imageConfigs
    }
}

/// Response of `GET /2022-09-01-00/service/{serviceId}/productTier/{productTierId}/version-set`.
public struct ListTierVersionSetsResult: Codable, Sendable, Equatable {
    public var tierVersionSets: [TierVersionSetResult]
    public var nextPageToken: String?

    public init(tierVersionSets: [TierVersionSetResult], nextPageToken: String? = nil) {
        self.tierVersionSets = tierVersionSets
        self.nextPageToken = nextPageToken
    }
}
