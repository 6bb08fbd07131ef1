import Foundation

/// Decides what a release creates. Pure: the store reads the inputs and writes the result in one transaction.
public enum ReleasePlanner {
    /// A product tier as the release sees it: the tier and its latest version, if any.
    public struct TierState: Sendable {
        public var tier: ProductTier
        public var latest: TierVersion?

        public init(tier: ProductTier, latest: TierVersion?) {
            self.tier = tier
            self.latest = latest
        }
    }

    /// The new tier versions for releasing `config`'s working copy into `tiers`.
    ///
    /// Each new version pins the working copy of `config` (with `digest`, the manifest digest its tag resolved
    /// to, when the registry is verified) and, for every other image config that still exists
    /// (`existingImageConfigIds`), what the tier's latest version pinned: a deleted image config is left out.
    /// A tier whose latest version already pins exactly this is left alone; when that is every tier, the
    /// release is refused with 409.
    public static func plan(
        releasing config: ImageConfig, from registry: ImageRegistry, digest: String?, into tiers: [TierState],
        existingImageConfigIds: Set<String>, releasedBy: String, at now: Date
    ) throws -> [TierVersion] {
        guard !tiers.isEmpty else {
            throw SlipwayError.invalidState(
                "service environment \(config.serviceEnvironmentId) has no product tier to release into; "
                    + "create one with POST /2022-09-01-00/service/\(config.serviceId)/product-tier first")
        }
        let snapshot = ImageConfigSnapshot(
            imageConfigId: config.id, revision: config.revision, spec: config.spec, registryHost: registry.host,
            registryInsecure: registry.insecure, imageDigest: digest)
        var versions: [TierVersion] = []
        for state in tiers {
            let latest = state.latest?.images ?? []
            let others = latest.filter { $0.imageConfigId != config.id && existingImageConfigIds.contains($0.imageConfigId) }
            let images = (others + [snapshot]).sorted { $0.imageConfigId < $1.imageConfigId }
            if state.latest != nil && images == latest { continue }
            let sequence = (state.latest?.sequence ?? 0) + 1
            versions.append(
                TierVersion(
                    serviceId: state.tier.serviceId, productTierId: state.tier.id, version: TierVersion.versionString(sequence: sequence),
                    sequence: sequence, status: .preferred, releasedAt: now, releasedBy: releasedBy, images: images))
        }
        guard !versions.isEmpty else {
            let where_ = tiers.map { "\($0.tier.id) version \($0.latest?.version ?? "?")" }.joined(separator: ", ")
            throw SlipwayError.invalidState(
                "nothing changed since the last release: image config \(config.id) as it is now is already released in \(where_)"
                    + (digest.map { " (pinning \($0))" } ?? "") + "; update it before releasing again")
        }
        return versions
    }
}

/// What a release found in the registry before its transaction: the digest the tag resolved to (its
/// signature checked, when the image config has a key), for one revision of the image config. The registry
/// is asked outside the transaction, so the store checks that it released what was checked.
public struct CheckedImage: Sendable, Equatable {
    public var revision: Int
    public var registryId: String
    public var digest: String

    public init(revision: Int, registryId: String, digest: String) {
        self.revision = revision
        self.registryId = registryId
        self.digest = digest
    }

    /// Refuses a release whose check no longer describes the image config and registry as they are now.
    public static func requireCurrent(_ checked: CheckedImage?, config: ImageConfig, registry: ImageRegistry) throws {
        let current = registry.verifyImages
            ? checked.map { $0.revision == config.revision && $0.registryId == registry.id } ?? false
            : checked == nil
        guard current else {
            throw SlipwayError.invalidState(
                "image config \(config.id) or its registry \(registry.id) changed while the image was being checked; release again")
        }
    }
}
