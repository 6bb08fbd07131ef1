import Foundation
import SlipwayCore
import SlipwayWire

// Domain models to wire types, so the wire format never leaks into the domain or storage.

extension ServiceResult {
    init(_ service: Service) {
        self.init(id: service.id, name: service.name, description: service.description, createdAt: service.createdAt.rfc3339)
    }
}

extension ServiceEnvironmentResult {
    init(_ environment: ServiceEnvironment) {
        self.init(
            id: environment.id, serviceId: environment.serviceId, name: environment.name, description: environment.description,
            type: environment.type.rawValue, createdAt: environment.createdAt.rfc3339)
    }
}

extension ProductTierResult {
    init(_ tier: ProductTier) {
        self.init(
            id: tier.id, serviceId: tier.serviceId, serviceEnvironmentId: tier.serviceEnvironmentId, name: tier.name,
            description: tier.description, preferredVersion: tier.preferredVersion, createdAt: tier.createdAt.rfc3339)
    }
}

extension ImageRegistryResult {
    init(_ registry: ImageRegistry) {
        self.init(
            id: registry.id, name: registry.name, host: registry.host, username: registry.username, hasPassword: registry.sealedPassword != nil,
            insecure: registry.insecure, verifyImages: registry.verifyImages, isDefault: registry.isDefault, createdAt: registry.createdAt.rfc3339)
    }
}

extension UserResult {
    init(_ user: User) {
        self.init(
            id: user.id, email: user.email, name: user.name, role: user.role.rawValue, organizationId: user.organizationId,
            createdAt: user.createdAt.rfc3339, disabled: user.disabled, mustChangePassword: user.mustChangePassword)
    }
}

extension CustomImageCommandsAndArgs {
    /// nil when the spec has neither commands nor args.
    init?(commands: [String]?, args: [String]?) {
        guard commands != nil || args != nil else { return nil }
        self.init(args: args, commands: commands)
    }
}

extension DescribeImageConfigResult {
    /// The working copy.
    init(_ config: ImageConfig) {
        self.init(
            id: config.id, serviceId: config.serviceId, serviceEnvironmentId: config.serviceEnvironmentId, spec: config.spec,
            productTierId: nil, productTierVersion: nil)
    }

    /// The snapshot that a tier version of a tier in `serviceEnvironmentId` pins (the working copy may be gone).
    init(snapshot: ImageConfigSnapshot, in version: TierVersion, serviceEnvironmentId: String) {
        self.init(
            id: snapshot.imageConfigId, serviceId: version.serviceId, serviceEnvironmentId: serviceEnvironmentId, spec: snapshot.spec,
            productTierId: version.productTierId, productTierVersion: version.version, imageDigest: snapshot.imageDigest)
    }

    private init(
        id: String, serviceId: String, serviceEnvironmentId: String, spec: ImageSpec, productTierId: String?, productTierVersion: String?,
        imageDigest: String? = nil
    ) {
        self.init(
            id: id, serviceId: serviceId, serviceEnvironmentId: serviceEnvironmentId, description: spec.description, imageName: spec.imageName,
            imageTag: spec.imageTag, imageRegistryId: spec.imageRegistryId, imageSignaturePublicKeyPEM: spec.publicKeyPEM,
            customImageCommandsAndArgs: CustomImageCommandsAndArgs(commands: spec.commands, args: spec.args), productTierId: productTierId,
            productTierVersion: productTierVersion, imageDigest: imageDigest)
    }
}

extension TierVersionSetResult {
    init(_ version: TierVersion) {
        self.init(
            serviceId: version.serviceId, productTierId: version.productTierId, version: version.version, status: version.status.rawValue,
            type: "Major", releasedAt: version.releasedAt.rfc3339, releasedBy: version.releasedBy,
            imageConfigs: version.images.map { image in
                ImageConfigSnapshotResult(
                    imageConfigId: image.imageConfigId, description: image.spec.description, imageName: image.spec.imageName,
                    imageTag: image.spec.imageTag, imageRegistryId: image.spec.imageRegistryId, imageRegistryHost: image.registryHost,
                    imageDigest: image.imageDigest, imageSignaturePublicKeyPEM: image.spec.publicKeyPEM,
                    customImageCommandsAndArgs: CustomImageCommandsAndArgs(commands: image.spec.commands, args: image.spec.args))
            }, releaseNotes: version.releaseNotes)
    }
}

extension AuditRecordResult {
    init(_ record: AuditRecord) {
        self.init(
            at: record.at.rfc3339, actorType: record.actorType, actorId: record.actorId, actorEmail: record.actorEmail, action: record.action,
            targets: record.targets, status: record.status, errorId: record.errorId, clientAddress: record.clientAddress,
            changes: record.changes.isEmpty ? nil : record.changes.mapValues { AuditChangeResult(before: $0.before, after: $0.after) })
    }
}
