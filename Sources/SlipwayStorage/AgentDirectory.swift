import GRDB
import SlipwayCore
import Synchronization

/// What every agent request asks — whose token is this, and which generation does its instance want —
/// answered from memory instead of a database read.
///
/// A transaction observer on the writer sees every committed change to `instances.desired_generation`
/// and every deleted instance, whatever code made it, and drops those answers before the writing call
/// returns. A lookup that missed reads the database and keeps the answer only if nothing was committed
/// meanwhile (the epoch did not move), so a stale generation is never kept. Unknown tokens are not
/// kept: random tokens cannot grow the memory.
final class AgentDirectory: TransactionObserver, Sendable {
    private struct Known {
        var tokens: [String: (rowID: Int64, instanceId: String)] = [:]
        /// The token hash of each row in `tokens`, so a deleted instance is forgotten without a scan.
        var tokenOfRow: [Int64: String] = [:]
        var generations: [Int64: Int] = [:]
        /// Moves on every commit that changed or deleted an instance.
        var epoch: UInt64 = 0
    }

    /// Rows the open write transaction changed; touched only on the writer's queue.
    private struct Pending {
        var changed: [Int64] = []
        var deleted: Set<Int64> = []
    }

    private let known = Mutex(Known())
    private let pending = Mutex(Pending())
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
            guard known.epoch == epoch else { return }
            if known.tokens.count >= capacity { known = Known(epoch: known.epoch) }
            known.tokens[tokenHash] = (found.rowID, found.session.instanceId)
            known.tokenOfRow[found.rowID] = tokenHash
            known.generations[found.rowID] = found.session.desiredGeneration
        }
        return found.session
    }

    // MARK: TransactionObserver (called on the writer's queue)

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        switch eventKind {
        case .update(let tableName, let columnNames): tableName == "instances" && columnNames.contains("desired_generation")
        case .delete(let tableName): tableName == "instances"
        case .insert: false
        }
    }

    func databaseDidChange(with event: DatabaseEvent) {
        let rowID = event.rowID
        let isDelete = event.kind == .delete
        pending.withLock { pending in
            if isDelete { pending.deleted.insert(rowID) } else { pending.changed.append(rowID) }
        }
    }

    func databaseDidCommit(_ db: Database) {
        let done = pending.withLock { pending in
            defer { pending = Pending() }
            return pending
        }
        guard !done.changed.isEmpty || !done.deleted.isEmpty else { return }
        known.withLock { known in
            known.epoch &+= 1
            for rowID in done.changed { known.generations[rowID] = nil }
            for rowID in done.deleted {
                known.generations[rowID] = nil
                if let token = known.tokenOfRow.removeValue(forKey: rowID) { known.tokens[token] = nil }
            }
        }
    }

    func databaseDidRollback(_ db: Database) {
        pending.withLock { $0 = Pending() }
    }
}
