import Synchronization

/// Facts that never change once written, kept in memory so that each agent report does not read them
/// again: the product tier of an instance (fixed at registration) and which tier versions exist
/// (released versions are never removed while an instance of the tier exists). A deleted instance is
/// still caught: the report's update finds no row.
final class KnownFacts: Sendable {
    private struct Known {
        var tierOfInstance: [String: String] = [:]
        var tierVersions: Set<String> = []
    }
    private let known = Mutex(Known())
    /// Entries kept at most of each kind; past it that kind starts over.
    private let capacity = 500_000

    func tier(ofInstance instanceId: String) -> String? {
        known.withLock { $0.tierOfInstance[instanceId] }
    }

    func remember(tier: String, ofInstance instanceId: String) {
        known.withLock { known in
            if known.tierOfInstance.count >= capacity { known.tierOfInstance.removeAll(keepingCapacity: true) }
            known.tierOfInstance[instanceId] = tier
        }
    }

    func versionExists(_ version: String, inTier tier: String) -> Bool {
        known.withLock { $0.tierVersions.contains(tier + "|" + version) }
    }

    func remember(version: String, inTier tier: String) {
        known.withLock { known in
            if known.tierVersions.count >= capacity { known.tierVersions.removeAll(keepingCapacity: true) }
            known.tierVersions.insert(tier + "|" + version)
        }
    }
}
