import Foundation

/// What a user may do in their organization.
public enum Role: String, Sendable, CaseIterable, Codable {
    /// Everything, including adding users.
    case admin
    /// Reads and writes everything but users.
    case editor
    /// Reads only.
    case viewer

    public var canWrite: Bool { self != .viewer }
}

/// The signed-in caller of a request.
public struct Identity: Sendable, Equatable {
    public var userId: String
    public var organizationId: String
    public var email: String
    public var role: Role
    /// The user's token version when the token was issued.
    public var tokenVersion: Int

    public init(userId: String, organizationId: String, email: String, role: Role, tokenVersion: Int = 1) {
        self.tokenVersion = tokenVersion
        self.userId = userId
        self.organizationId = organizationId
        self.email = email
        self.role = role
    }

    /// Throws 403 unless the caller may change things.
    public func requireWrite() throws {
        guard role.canWrite else {
            throw SlipwayError.forbidden("user \(email) has role viewer, which may only read; ask an admin for the editor role")
        }
    }

    /// Throws 403 unless the caller is an admin.
    public func requireAdmin() throws {
        guard role == .admin else {
            throw SlipwayError.forbidden("only an admin may do this; user \(email) has role \(role.rawValue)")
        }
    }
}

/// A tenant.
public struct Organization: Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdAt: Date

    public init(id: String, name: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

/// A person who signs in; belongs to exactly one organization.
public struct User: Sendable, Equatable {
    public var id: String
    public var organizationId: String
    public var email: String
    public var name: String
    public var role: Role
    /// PBKDF2 hash in the format of ``PasswordHasher``.
    public var passwordHash: String
    public var createdAt: Date
    /// A disabled user can neither sign in nor use a token issued before.
    public var disabled: Bool
    /// Carried in every access token; moved by each change that must end the user's sessions (role,
    /// disabled, password), so tokens issued before are refused on their next request.
    public var tokenVersion: Int
    /// The generated first-admin password: everything but changing it is refused until it is changed.
    public var mustChangePassword: Bool

    public init(
        id: String, organizationId: String, email: String, name: String, role: Role, passwordHash: String, createdAt: Date, disabled: Bool = false,
        tokenVersion: Int = 1, mustChangePassword: Bool = false
    ) {
        self.id = id
        self.organizationId = organizationId
        self.email = email
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.disabled = disabled
        self.tokenVersion = tokenVersion
        self.mustChangePassword = mustChangePassword
    }

    public var identity: Identity {
        Identity(userId: id, organizationId: organizationId, email: email, role: role, tokenVersion: tokenVersion)
    }
}

/// The account rules an admin's change must keep.
public enum AccountRules {
    /// Refuses a change that would leave the organization without an enabled admin.
    public static func requireAnAdminRemains(after change: User?, replacing current: User, among users: [User]) throws {
        let admins = users.filter { $0.id != current.id && $0.role == .admin && !$0.disabled }
        let stillAdmin = change.map { $0.role == .admin && !$0.disabled } ?? false
        guard !admins.isEmpty || stillAdmin else {
            throw SlipwayError.invalidState(
                "user \(current.email) is the organization's last enabled admin; make another user admin first")
        }
    }
}

/// A service `s-…` of an organization.
public struct Service: Sendable, Equatable {
    public var id: String
    public var organizationId: String
    public var name: String
    public var description: String
    public var createdAt: Date

    public init(id: String, organizationId: String, name: String, description: String, createdAt: Date) {
        self.id = id
        self.organizationId = organizationId
        self.name = name
        self.description = description
        self.createdAt = createdAt
    }
}

/// The kinds of service environment.
public enum EnvironmentType: String, Sendable, CaseIterable {
    case dev, qa, staging, canary, prod, `private`
}

/// A service environment `se-…` (dev, prod, …) of a service.
public struct ServiceEnvironment: Sendable, Equatable {
    public var id: String
    public var serviceId: String
    public var name: String
    public var description: String
    public var type: EnvironmentType
    public var createdAt: Date

    public init(id: String, serviceId: String, name: String, description: String, type: EnvironmentType, createdAt: Date) {
        self.id = id
        self.serviceId = serviceId
        self.name = name
        self.description = description
        self.type = type
        self.createdAt = createdAt
    }
}

/// A product tier `pt-…` (a plan) of a service environment.
public struct ProductTier: Sendable, Equatable {
    public var id: String
    public var serviceId: String
    public var serviceEnvironmentId: String
    public var name: String
    public var description: String
    public var createdAt: Date
    /// The `Preferred` tier version, if anything was released.
    public var preferredVersion: String?

    public init(
        id: String, serviceId: String, serviceEnvironmentId: String, name: String, description: String, createdAt: Date,
        preferredVersion: String? = nil
    ) {
        self.id = id
        self.serviceId = serviceId
        self.serviceEnvironmentId = serviceEnvironmentId
        self.name = name
        self.description = description
        self.createdAt = createdAt
        self.preferredVersion = preferredVersion
    }
}

/// An image registry `ir-…`: where images are pulled from.
public struct ImageRegistry: Sendable, Equatable {
    public var id: String
    public var organizationId: String
    public var name: String
    public var host: String
    /// Plain HTTP instead of HTTPS.
    public var insecure: Bool
    /// Whether releases resolve tags to digests here (and check signatures).
    public var verifyImages: Bool
    public var username: String?
    /// The password as stored: sealed by ``SecretBox``, never in the clear.
    public var sealedPassword: String?
    public var isDefault: Bool
    public var createdAt: Date

    public init(
        id: String, organizationId: String, name: String, host: String, insecure: Bool = false, verifyImages: Bool, username: String?,
        sealedPassword: String?, isDefault: Bool, createdAt: Date
    ) {
        self.id = id
        self.organizationId = organizationId
        self.name = name
        self.host = host
        self.insecure = insecure
        self.verifyImages = verifyImages
        self.username = username
        self.sealedPassword = sealedPassword
        self.isDefault = isDefault
        self.createdAt = createdAt
    }
}

/// The editable content of an image config: what a release pins.
public struct ImageSpec: Sendable, Equatable {
    public var description: String
    public var imageName: String
    public var imageTag: String
    public var imageRegistryId: String
    public var publicKeyPEM: String?
    public var commands: [String]?
    public var args: [String]?

    public init(
        description: String, imageName: String, imageTag: String, imageRegistryId: String, publicKeyPEM: String?, commands: [String]?,
        args: [String]?
    ) {
        self.description = description
        self.imageName = imageName
        self.imageTag = imageTag
        self.imageRegistryId = imageRegistryId
        self.publicKeyPEM = publicKeyPEM
        self.commands = commands
        self.args = args
    }
}

/// An image config `imgc-…`: the working copy that Update changes and Release pins.
public struct ImageConfig: Sendable, Equatable {
    public var id: String
    public var serviceId: String
    public var serviceEnvironmentId: String
    public var spec: ImageSpec
    /// Bumped by every update that changes the spec; a release pins a revision.
    public var revision: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: String, serviceId: String, serviceEnvironmentId: String, spec: ImageSpec, revision: Int, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.serviceId = serviceId
        self.serviceEnvironmentId = serviceEnvironmentId
        self.spec = spec
        self.revision = revision
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// An image config as a tier version pins it.
public struct ImageConfigSnapshot: Sendable, Equatable {
    public var imageConfigId: String
    public var revision: Int
    public var spec: ImageSpec
    /// The registry's host at release time.
    public var registryHost: String
    /// Whether the registry speaks plain HTTP (for agents that check signatures themselves).
    public var registryInsecure: Bool
    /// The manifest digest (`sha256:…`) the tag resolved to at release time; nil when the registry is not verified.
    public var imageDigest: String?

    public init(
        imageConfigId: String, revision: Int, spec: ImageSpec, registryHost: String, registryInsecure: Bool = false, imageDigest: String? = nil
    ) {
        self.imageConfigId = imageConfigId
        self.revision = revision
        self.spec = spec
        self.registryHost = registryHost
        self.registryInsecure = registryInsecure
        self.imageDigest = imageDigest
    }

    /// The full image reference: `host/name:tag`, with `@sha256:…` when a digest is pinned.
    public var imageReference: String {
        let tagged = "\(registryHost)/\(spec.imageName):\(spec.imageTag)"
        return imageDigest.map { "\(tagged)@\($0)" } ?? tagged
    }
}

/// The lifecycle of a tier version.
public enum TierVersionStatus: String, Sendable, CaseIterable {
    case pending = "Pending"
    case active = "Active"
    case preferred = "Preferred"
    case deprecated = "Deprecated"
}

/// A tier version (version set) of a product tier: an immutable set of image config snapshots.
public struct TierVersion: Sendable, Equatable {
    public var serviceId: String
    public var productTierId: String
    /// `1.0`, `2.0`, …
    public var version: String
    /// 1, 2, …: the order of releases in the tier.
    public var sequence: Int
    public var status: TierVersionStatus
    public var releasedAt: Date
    public var releasedBy: String
    public var images: [ImageConfigSnapshot]
    /// What changed, in the releaser's words: given on release, changed by PATCH.
    public var releaseNotes: String?

    public init(
        serviceId: String, productTierId: String, version: String, sequence: Int, status: TierVersionStatus, releasedAt: Date,
        releasedBy: String, images: [ImageConfigSnapshot], releaseNotes: String? = nil
    ) {
        self.serviceId = serviceId
        self.productTierId = productTierId
        self.version = version
        self.sequence = sequence
        self.status = status
        self.releasedAt = releasedAt
        self.releasedBy = releasedBy
        self.images = images
        self.releaseNotes = releaseNotes
    }

    /// The version string of the n-th release of a tier: `1.0`, `2.0`, …
    public static func versionString(sequence: Int) -> String { "\(sequence).0" }
}
