import SlipwayCore
import Synchronization

/// Each user's current role, disabled flag and token version, kept in memory for every authenticated
/// request. Valid while the catalog revision stands: user changes move it (on other replicas too, by
/// `NOTIFY`), so a disabled, deleted or demoted user is refused on the very next request anywhere.
final class UserStates: Sendable {
    private struct State {
        var revision: UInt64 = .max
        var users: [String: User?] = [:]
    }

    private let store: any SlipwayStore
    private let state = Mutex(State())
    private let capacity = 100_000

    init(store: any SlipwayStore) {
        self.store = store
    }

    /// The user as stored now; nil when deleted.
    func current(_ userId: String) async throws -> User? {
        let revision = await store.catalogRevision()
        let kept: User?? = state.withLock { state in
            if state.revision != revision {
                state.revision = revision
                state.users.removeAll(keepingCapacity: true)
            }
            return state.users[userId]
        }
        if let kept { return kept }
        let user = try await store.user(id: userId)
        state.withLock { state in
            guard state.revision == revision else { return }
            if state.users.count >= capacity { state.users.removeAll(keepingCapacity: true) }
            state.users[userId] = .some(user)
        }
        return user
    }
}
