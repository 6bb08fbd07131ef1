// Wire types of Slipway's extensions around image configs: services, environments, product tiers,
// image registries and tier version sets. Same prefix, auth and error format as the upstream API.

/// Body of `POST /2022-09-01-00/service`.
public struct CreateServiceRequest: Codable, Sendable, Equatable {
    /// The service name, unique within the organization.
    public var name: String
    /// An optional description (at most 1024 bytes of UTF-8).
    public var description: String?

    /// Creates the request body.
    public init(name: String, description: String? = nil) {
        self.name = name
        self.description = description
    }
}

/// A service `s-…`.
public struct ServiceResult: Codable, Sendable, Equatable {
    /// The service id (`s-…`).
    public var id: String
    /// The service name.
    public var name: String
    /// The description; empty when none was given.
    public var description: String
    /// When the service was created, RFC 3339 in UTC.
    public var createdAt: String

    /// Creates a service entry.
    public init(id: String, name: String, description: String, createdAt: String) {
        self.id = id
        self.name = name
        self.description = description
        self.createdAt = createdAt
    }
}

/// Response of `GET /2022-09-01-00/service`.
public struct ListServicesResult: Codable, Sendable, Equatable {
    /// One page of services, oldest first.
    public var services: [ServiceResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(services: [ServiceResult], nextPageToken: String? = nil) {
        self.services = services
        self.nextPageToken = nextPageToken
    }
}

/// Body of `POST /2022-09-01-00/service/{serviceId}/environment`.
public struct CreateServiceEnvironmentRequest: Codable, Sendable, Equatable {
    /// The environment name, unique within the service.
    public var name: String
    /// An optional description (at most 1024 bytes of UTF-8).
    public var description: String?
    /// `dev`, `qa`, `staging`, `canary`, `prod` or `private`; defaults to `dev`.
    public var type: String?

    /// Creates the request body; `type` left nil means `dev`.
    public init(name: String, description: String? = nil, type: String? = nil) {
        self.name = name
        self.description = description
        self.type = type
    }
}

/// A service environment `se-…`.
public struct ServiceEnvironmentResult: Codable, Sendable, Equatable {
    /// The service environment id (`se-…`).
    public var id: String
    /// The service the environment belongs to (`s-…`).
    public var serviceId: String
    /// The environment name.
    public var name: String
    /// The description; empty when none was given.
    public var description: String
    /// `dev`, `qa`, `staging`, `canary`, `prod` or `private`.
    public var type: String
    /// When the environment was created, RFC 3339 in UTC.
    public var createdAt: String

    /// Creates a service environment entry.
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
    /// One page of service environments, oldest first.
    public var serviceEnvironments: [ServiceEnvironmentResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(serviceEnvironments: [ServiceEnvironmentResult], nextPageToken: String? = nil) {
        self.serviceEnvironments = serviceEnvironments
        self.nextPageToken = nextPageToken
    }
}

/// Body of `POST /2022-09-01-00/service/{serviceId}/product-tier`.
public struct CreateProductTierRequest: Codable, Sendable, Equatable {
    /// The tier name, unique within the service environment.
    public var name: String
    /// An optional description (at most 1024 bytes of UTF-8).
    public var description: String?
    /// The service environment the product tier belongs to (`se-…`).
    public var serviceEnvironmentId: String

    /// Creates the request body.
    public init(name: String, serviceEnvironmentId: String, description: String? = nil) {
        self.name = name
        self.serviceEnvironmentId = serviceEnvironmentId
        self.description = description
    }
}

/// A product tier `pt-…`.
public struct ProductTierResult: Codable, Sendable, Equatable {
    /// The product tier id (`pt-…`).
    public var id: String
    /// The service the tier belongs to (`s-…`).
    public var serviceId: String
    /// The service environment the tier belongs to (`se-…`).
    public var serviceEnvironmentId: String
    /// The tier name.
    public var name: String
    /// The description; empty when none was given.
    public var description: String
    /// The version new instances and rollouts move to, once something was released.
    public var preferredVersion: String?
    /// When the tier was created, RFC 3339 in UTC.
    public var createdAt: String

    /// Creates a product tier entry.
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
    /// One page of product tiers, oldest first.
    public var productTiers: [ProductTierResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(productTiers: [ProductTierResult], nextPageToken: String? = nil) {
        self.productTiers = productTiers
        self.nextPageToken = nextPageToken
    }
}

/// Body of `POST /2022-09-01-00/image-registry`.
public struct CreateImageRegistryRequest: Codable, Sendable, Equatable {
    /// The registry name, unique within the organization.
    public var name: String
    /// Host and optional port, e.g. `ghcr.io` or `127.0.0.1:5000`.
    public var host: String
    /// The user name to pull with, if the registry needs one.
    public var username: String?
    /// The password to pull with; stored sealed, never returned.
    public var password: String?
    /// Plain HTTP instead of HTTPS; default false.
    public var insecure: Bool?
    /// Whether a release resolves the tag to a digest here and checks signatures; default true.
    public var verifyImages: Bool?

    /// Creates the request body.
    public init(
        name: String, host: String, username: String? = nil, password: String? = nil, insecure: Bool? = nil, verifyImages: Bool? = nil
    ) {
        self.name = name
        self.host = host
        self.username = username
        self.password = password
        self.insecure = insecure
        self.verifyImages = verifyImages
    }
}

/// Body of `PATCH /2022-09-01-00/image-registry/{id}`: what to change; nil leaves a field as it is.
public struct UpdateImageRegistryRequest: Codable, Sendable, Equatable {
    /// New user name; an empty string removes it.
    public var username: String?
    /// New password; an empty string removes it.
    public var password: String?
    /// Plain HTTP instead of HTTPS.
    public var insecure: Bool?
    /// Whether releases verify images here.
    public var verifyImages: Bool?

    /// Creates the request body.
    public init(username: String? = nil, password: String? = nil, insecure: Bool? = nil, verifyImages: Bool? = nil) {
        self.username = username
        self.password = password
        self.insecure = insecure
        self.verifyImages = verifyImages
    }
}

/// An image registry `ir-…`. The password is never returned.
public struct ImageRegistryResult: Codable, Sendable, Equatable {
    /// The image registry id (`ir-…`).
    public var id: String
    /// The registry name.
    public var name: String
    /// Host and optional port, stored lowercased, e.g. `ghcr.io`.
    public var host: String
    /// The user name to pull with, if any.
    public var username: String?
    /// Whether a password is stored.
    public var hasPassword: Bool
    /// Plain HTTP instead of HTTPS.
    public var insecure: Bool
    /// Whether releases resolve tags to digests here and check signatures.
    public var verifyImages: Bool
    /// Whether this is the organization's default registry.
    public var isDefault: Bool
    /// When the registry was added, RFC 3339 in UTC.
    public var createdAt: String

    /// Creates an image registry entry.
    public init(
        id: String, name: String, host: String, username: String?, hasPassword: Bool, insecure: Bool, verifyImages: Bool, isDefault: Bool,
        createdAt: String
    ) {
        self.id = id
        self.name = name
        self.host = host
        self.username = username
        self.hasPassword = hasPassword
        self.insecure = insecure
        self.verifyImages = verifyImages
        self.isDefault = isDefault
        self.createdAt = createdAt
    }
}

/// Response of `GET /2022-09-01-00/image-registry`.
public struct ListImageRegistriesResult: Codable, Sendable, Equatable {
    /// One page of image registries, oldest first, the default one included.
    public var imageRegistries: [ImageRegistryResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(imageRegistries: [ImageRegistryResult], nextPageToken: String? = nil) {
        self.imageRegistries = imageRegistries
        self.nextPageToken = nextPageToken
    }
}

/// An image config as a tier version pins it: an immutable snapshot.
public struct ImageConfigSnapshotResult: Codable, Sendable, Equatable {
    /// The image config this is a snapshot of (`imgc-…`).
    public var imageConfigId: String
    /// The image config's description at release time.
    public var description: String
    /// Name of the container image.
    public var imageName: String
    /// The image tag.
    public var imageTag: String
    /// The image registry the image comes from (`ir-…`).
    public var imageRegistryId: String
    /// The registry host at release time, so the full reference is `registryHost/imageName:imageTag`.
    public var imageRegistryHost: String
    /// The manifest digest (`sha256:…`) the tag resolved to at release time; nil when the registry is not verified.
    public var imageDigest: String?
    /// PEM public key of the key the image is signed with, if set.
    public var imageSignaturePublicKeyPEM: String?
    /// Commands and arguments to run in the container, if set.
    public var customImageCommandsAndArgs: CustomImageCommandsAndArgs?

    /// Creates a snapshot entry.
    public init(
        imageConfigId: String, description: String, imageName: String, imageTag: String, imageRegistryId: String,
        imageRegistryHost: String, imageDigest: String? = nil, imageSignaturePublicKeyPEM: String?,
        customImageCommandsAndArgs: CustomImageCommandsAndArgs?
    ) {
        self.imageDigest = imageDigest
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
    /// The service the product tier belongs to (`s-…`).
    public var serviceId: String
    /// The product tier this is a version of (`pt-…`).
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
    /// Snapshots of the image configs this version pins.
    public var imageConfigs: [ImageConfigSnapshotResult]
    /// What changed, in the releaser's words.
    public var releaseNotes: String?

    /// Creates a tier version entry.
    public init(
        serviceId: String, productTierId: String, version: String, status: String, type: String, releasedAt: String,
        releasedBy: String, imageConfigs: [ImageConfigSnapshotResult], releaseNotes: String? = nil
    ) {
        self.serviceId = serviceId
        self.productTierId = productTierId
        self.version = version
        self.status = status
        self.type = type
        self.releasedAt = releasedAt
        self.releasedBy = releasedBy
        self.imageConfigs = imageConfigs
        self.releaseNotes = releaseNotes
    }
}

/// Response of `GET /2022-09-01-00/service/{serviceId}/productTier/{productTierId}/version-set`.
public struct ListTierVersionSetsResult: Codable, Sendable, Equatable {
    /// One page of tier versions, oldest first.
    public var tierVersionSets: [TierVersionSetResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(tierVersionSets: [TierVersionSetResult], nextPageToken: String? = nil) {
        self.tierVersionSets = tierVersionSets
        self.nextPageToken = nextPageToken
    }
}

/// One field that differs between two tier versions' snapshots of an image config.
public struct FieldChangeResult: Codable, Sendable, Equatable {
    public var field: String
    /// Absent for an added image config.
    public var before: String?
    /// Absent for a removed image config.
    public var after: String?

    /// Creates a field change.
    public init(field: String, before: String?, after: String?) {
        self.field = field
        self.before = before
        self.after = after
    }
}

/// How one image config differs between two tier versions.
public struct ImageConfigDiffResult: Codable, Sendable, Equatable {
    public var imageConfigId: String
    /// `added`, `removed` or `changed`.
    public var change: String
    public var fields: [FieldChangeResult]

    /// Creates an image config's difference.
    public init(imageConfigId: String, change: String, fields: [FieldChangeResult]) {
        self.imageConfigId = imageConfigId
        self.change = change
        self.fields = fields
    }
}

/// Response of `GET …/productTier/{pt}/version-set/{version}/diff/{other}`: what changes from `version` to `other`.
public struct TierVersionDiffResult: Codable, Sendable, Equatable {
    public var productTierId: String
    public var from: String
    public var to: String
    /// Image configs that differ, by id; those alike are left out.
    public var imageConfigs: [ImageConfigDiffResult]

    /// Creates the response body.
    public init(productTierId: String, from: String, to: String, imageConfigs: [ImageConfigDiffResult]) {
        self.productTierId = productTierId
        self.from = from
        self.to = to
        self.imageConfigs = imageConfigs
    }
}

/// Body of `PATCH …/productTier/{pt}/version-set/{version}`.
public struct UpdateTierVersionSetRequest: Codable, Sendable, Equatable {
    /// The release notes, replacing the old ones; `""` removes them.
    public var releaseNotes: String

    /// Creates the request body.
    public init(releaseNotes: String) {
        self.releaseNotes = releaseNotes
    }
}
