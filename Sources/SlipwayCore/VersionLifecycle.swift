import Crypto
import Foundation

/// What may happen to a released tier version: promoted to Preferred (what rollouts and new instances take),
/// deprecated (nothing new may target it; instances that run it keep it), and how two versions differ.
public enum VersionLifecycle {
    /// Refuses to promote a version that is Preferred already, or Deprecated.
    public static func checkPromote(_ version: TierVersion) throws {
        switch version.status {
        case .preferred:
            throw SlipwayError.invalidState("version \(version.version) of product tier \(version.productTierId) is already Preferred")
        case .deprecated:
            throw SlipwayError.invalidState(
                "version \(version.version) of product tier \(version.productTierId) is Deprecated; a deprecated version cannot become Preferred")
        case .active, .pending:
            break
        }
    }

    /// Refuses to deprecate the Preferred version (rollouts and new instances would have nothing to take), or one
    /// that is Deprecated already.
    public static func checkDeprecate(_ version: TierVersion) throws {
        switch version.status {
        case .preferred:
            throw SlipwayError.invalidState(
                "version \(version.version) of product tier \(version.productTierId) is Preferred; promote another version before deprecating it")
        case .deprecated:
            throw SlipwayError.invalidState("version \(version.version) of product tier \(version.productTierId) is already Deprecated")
        case .active, .pending:
            break
        }
    }

    /// Refuses a new instance at a Deprecated version.
    public static func checkRegistration(at version: String, productTierId: String, status: TierVersionStatus) throws {
        guard status != .deprecated else {
            throw SlipwayError.invalidState(
                "version \(version) of product tier \(productTierId) is Deprecated: no new instance may run it; register at the Preferred version")
        }
    }

    /// How one image config differs between two versions.
    public struct ImageConfigChange: Sendable, Equatable {
        public enum Kind: String, Sendable {
            case added, removed, changed
        }

        public struct Field: Sendable, Equatable {
            public var field: String
            public var before: String?
            public var after: String?

            public init(field: String, before: String?, after: String?) {
                self.field = field
                self.before = before
                self.after = after
            }
        }

        public var imageConfigId: String
        public var kind: Kind
        /// For `changed`, the fields that differ; for `added` and `removed`, every field on its side.
        public var fields: [Field]
    }

    /// What changes from `from` to `to`, image config by image config (those alike left out), in id order.
    public static func diff(from: TierVersion, to: TierVersion) -> [ImageConfigChange] {
        let before = Dictionary(uniqueKeysWithValues: from.images.map { ($0.imageConfigId, $0) })
        let after = Dictionary(uniqueKeysWithValues: to.images.map { ($0.imageConfigId, $0) })
        return Set(before.keys).union(after.keys).sorted().compactMap { id -> ImageConfigChange? in
            switch (before[id], after[id]) {
            case (let old?, let new?):
                let changed = zip(fields(old), fields(new)).compactMap { pair -> ImageConfigChange.Field? in
                    pair.0.value == pair.1.value ? nil : .init(field: pair.0.name, before: pair.0.value, after: pair.1.value)
                }
                return changed.isEmpty ? nil : ImageConfigChange(imageConfigId: id, kind: .changed, fields: changed)
            case (nil, let new?):
                let shown = fields(new).compactMap { field in field.value.map { ImageConfigChange.Field(field: field.name, before: nil, after: $0) } }
                return ImageConfigChange(imageConfigId: id, kind: .added, fields: shown)
            case (let old?, nil):
                let shown = fields(old).compactMap { field in field.value.map { ImageConfigChange.Field(field: field.name, before: $0, after: nil) } }
                return ImageConfigChange(imageConfigId: id, kind: .removed, fields: shown)
            case (nil, nil):
                return nil
            }
        }
    }

    /// The compared fields of a snapshot, in a fixed order; a key is compared by its fingerprint, not shown whole.
    private static func fields(_ snapshot: ImageConfigSnapshot) -> [(name: String, value: String?)] {
        [
            ("image", snapshot.imageReference), ("imageName", snapshot.spec.imageName), ("imageTag", snapshot.spec.imageTag),
            ("imageDigest", snapshot.imageDigest), ("imageRegistryId", snapshot.spec.imageRegistryId), ("registryHost", snapshot.registryHost),
            ("description", snapshot.spec.description), ("commands", snapshot.spec.commands.map { $0.joined(separator: " ") }),
            ("args", snapshot.spec.args.map { $0.joined(separator: " ") }),
            ("imageSignaturePublicKey", snapshot.spec.publicKeyPEM.map { "sha256:" + SHA256.hash(data: Data($0.utf8)).hexString.prefix(16) }),
            ("revision", String(snapshot.revision)),
        ]
    }
}
