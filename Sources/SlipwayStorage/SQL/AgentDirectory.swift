import SlipwayCore
import Synchronization

/// What every agent request asks — whose token is this, and which generation does its instance want —
/// answered from memory instead of a database read.
///
/// The database backend reports every committed change to `instances.desired_generation` and every
/// deleted instance, whatever code made it (``forget(changedRows:deletedRows:)``), and those answers are
/// dropped before the writing call returns. A lookup that missed reads the database and keeps the answer
/// only if its row was not changed meanwhile, so a stale generation is never kept; changes to other rows
/// (a rollout moves hundreds at a time) do not stop it.
/// Unknown tokens are not kept: random tokens cannot grow the memory.
final class AgentDirectory: Sendable {
    private struct Known {
        var tokens: [String: (rowID: Int64, instanceId: String)] = [:]
        /// The token hash of each row in `tokens`, so a deleted instance is forgotten without a scan.
        var tokenOfRow: [Int64: String] = [:]
        var generations: [Int64: Int] = [:]
        /// Moves on every commit that changed or deleted an instance.
        var epoch: UInt64 = 0
        /// The epoch at which each changed or deleted row last changed.
        var changedAt: [Int64: UInt64] = [:]
        /// Lookups that began before this epoch keep nothing: what changed before it is no longer known.
        var floor: UInt64 = 0

        /// Everything dropped; lookups under way keep nothing.
        mutating func startOver() {
            epoch &+= 1
            self = Known(epoch: epoch, floor: epoch)
        }
    }

    private let known = Mutex(Known())
    /// Tokens kept at most; past it the directory starts over.
    private let capacity = 500_000

    /// The agent session of a token hash: from memory, else from the database through `read`.
    func session(tokenHash: String, read: () async throws -> (rowID: Int64, session: AgentSession)?) async throws -> AgentSession? {
        let (epoch, token, generation) = known.withLock { known -> (UInt64, (rowID: Int64, instanceId: String)?, Int?) in
            let token = known.tokens[tokenHash]
            return (known.epoch, token, token.flatMap { known.generations[$0.rowID] })
        }
        if let token, let generation {
            return AgentSession(instanceId: token.instanceId, desiredGeneration: generation)
        }
        guard let found = try await read() else { return nil }
        known.withLock { known in
            guard epoch >= known.floor, known.changedAt[found.rowID, default: 0] <= epoch else { return }
            if known.tokens.count >= capacity { known.startOver(); return }
            known.tokens[tokenHash] = (found.rowID, found.session.instanceId)
            known.tokenOfRow[found.rowID] = tokenHash
            known.generations[found.rowID] = found.session.desiredGeneration
        }
        return found.session
    }

    /// Drops what is known of instances whose desired generation changed (`changedRows`) or that were
    /// deleted (`deletedRows`), by row id. Called after the commit and before the writing call returns.
    func forget(changedRows: [Int64], deletedRows: [Int64]) {
        guard !changedRows.isEmpty || !deletedRows.isEmpty else { return }
        known.withLock { known in
            if known.changedAt.count >= capacity { known.startOver() }
            known.epoch &+= 1
            for rowID in changedRows {
                known.generations[rowID] = nil
                known.changedAt[rowID] = known.epoch
            }
            for rowID in deletedRows {
                known.generations[rowID] = nil
                known.changedAt[rowID] = known.epoch
                if let token = known.tokenOfRow.removeValue(forKey: rowID) { known.tokens[token] = nil }
            }
        }
    }

    /// Drops everything, as when the changes made meanwhile cannot be known.
    func forgetAll() {
        known.withLock { $0.startOver() }
    }
}
