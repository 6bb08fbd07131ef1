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
    /// Each new version pins the working copy of `config` and, for every other image config, what the
    /// tier's latest version pinned. A tier whose latest version already pins this revision is left
    /// alone; when that is every tier, the release is refused with 409.
    public static func plan(
        releasing config: ImageConfig, registryHost: String, into tiers: [TierState], releasedBy: String, at now: Date
    ) throws -> [TierVersion] {
        guard !tiers.isEmpty else {
            throw SlipwayError.invalidState(
                "service environment \(config.serviceEnvironmentId) has no product tier to release into; "
                    + "create one with POST /2022-09-01-00/service/\(config.serviceId)/product-tier first")
        }
        let snapshot = ImageConfigSnapshot(imageConfigId: config.id, revision: config.revision, spec: config.spec, registryHost: registryHost)
        var versions: [TierVersion] = []
        for state in tiers {
            let pinned = state.latest?.images.first { $0.imageConfigId == config.id }
            if let pinned, pinned.revision == config.revision, pinned.registryHost == registryHost { continue }
            let others = (state.latest?.images ?? []).filter { $0.imageConfigId != config.id }
            let sequence = (state.latest?.sequence ?? 0) + 1
            versions.append(
                TierVersion(
                    serviceId: state.tier.serviceId, productTierId: state.tier.id, version: TierVersion.versionString(sequence: sequence),
                    sequence: sequence, status: .preferred, releasedAt: now, releasedBy: releasedBy,
                    images: (others + [snapshot]).sorted { $0.imageConfigId < $1.imageConfigId }))
        }
        guard !versions.isEmpty else {
            let where_ = tiers.map { "\($0.tier.id) version \($0.latest?.version ?? "?")" }.joined(separator: ", ")
            throw SlipwayError.invalidState(
                "nothing changed since the last release: image config \(config.id) as it is now is already released in \(where_); "
                    + "update it before releasing again")
        }
        return versions
    }
}
