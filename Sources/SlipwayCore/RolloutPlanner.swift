import Foundation

/// Which instances a rollout of an image config moves, and which it does not and why. Pure: the store
/// hands in the environment's instances, each product tier's preferred version, and the image config as
/// each needed tier version pins it.
public enum RolloutPlanner {
    /// A tier version of a product tier.
    public struct TierVersionKey: Hashable, Sendable {
        public var productTierId: String
        public var version: String

        public init(productTierId: String, version: String) {
            self.productTierId = productTierId
            self.version = version
        }
    }

    /// The tier versions whose snapshots ``plan(config:policy:instances:preferredVersions:snapshots:)`` reads.
    public static func neededVersions(instances: [Instance], preferredVersions: [String: String]) -> Set<TierVersionKey> {
        var keys = Set<TierVersionKey>()
        for instance in instances {
            keys.insert(TierVersionKey(productTierId: instance.productTierId, version: instance.currentVersion))
            if let preferred = preferredVersions[instance.productTierId] {
                keys.insert(TierVersionKey(productTierId: instance.productTierId, version: preferred))
            }
        }
        return keys
    }

    /// The plan: instances (in registration order) that the policy's selector takes and whose image for `config`
    /// differs from the one their tier's preferred version pins are eligible; the others are listed with the reason.
    /// `snapshots` holds the config as each tier version pins it (absent: the version does not pin it).
    /// A selector that lists an instance the environment does not have is refused.
    public static func plan(
        config: ImageConfig, policy: RolloutPolicy, instances: [Instance], preferredVersions: [String: String],
        snapshots: [TierVersionKey: ImageConfigSnapshot]
    ) throws -> RolloutPlan {
        let listed = policy.selector?.instanceIds.map(Set.init)
        if let listed {
            let known = Set(instances.map(\.id))
            if let unknown = listed.subtracting(known).sorted().first {
                throw SlipwayError.badRequest(
                    "selector.instanceIds names \(unknown), which is not an instance of service environment \(config.serviceEnvironmentId)")
            }
        }
        var eligible: [RolloutCandidate] = []
        var ineligible: [RolloutCandidate] = []
        for instance in instances {
            let source = snapshots[TierVersionKey(productTierId: instance.productTierId, version: instance.currentVersion)]
            if let reason = policy.selector?.exclusionReason(instance, listed: listed) {
                ineligible.append(.init(instance: instance, sourceImage: source?.imageReference, targetImage: nil, targetVersion: nil,
                    ineligibleReason: reason))
                continue
            }
            guard let target = preferredVersions[instance.productTierId] else {
                ineligible.append(.init(instance: instance, sourceImage: source?.imageReference, targetImage: nil, targetVersion: nil,
                    ineligibleReason: "product tier \(instance.productTierId) has no released version"))
                continue
            }
            guard let targetImage = snapshots[TierVersionKey(productTierId: instance.productTierId, version: target)] else {
                ineligible.append(.init(instance: instance, sourceImage: source?.imageReference, targetImage: nil, targetVersion: target,
                    ineligibleReason: "the preferred version \(target) of product tier \(instance.productTierId) does not include image config \(config.id)"))
                continue
            }
            var candidate = RolloutCandidate(
                instance: instance, sourceImage: source?.imageReference, targetImage: targetImage.imageReference, targetVersion: target,
                ineligibleReason: nil)
            if let source, source.imageReference == targetImage.imageReference, source.spec.commands == targetImage.spec.commands,
                source.spec.args == targetImage.spec.args
            {
                candidate.ineligibleReason = "already runs \(source.imageReference) (version \(instance.currentVersion))"
                ineligible.append(candidate)
            } else {
                eligible.append(candidate)
            }
        }
        return RolloutPlan(imageConfigId: config.id, policy: policy, eligible: eligible, ineligible: ineligible)
    }
}
