import Synchronization

/// At most `limit` holders at once; the others wait without holding a thread.
///
/// GRDB blocks a dispatch thread while a read waits for a free reader connection, so thousands of
/// concurrent requests would each take a thread (and libdispatch traps when it cannot make more). Waiting
/// here first keeps the number of blocked threads at the number of readers.
final class AsyncLimiter: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var head = 0
    }

    private let state: Mutex<State>

    init(limit: Int) {
        state = Mutex(State(available: limit))
    }

    func withPermit<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        let acquired = state.withLock { state -> Bool in
            guard state.available > 0 else { return false }
            state.available -= 1
            return true
        }
        if acquired { return }
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Bool in
                // A permit may have come back meanwhile.
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.head < state.waiters.count {
                let continuation = state.waiters[state.head]
                state.head += 1
                if state.head > 1024 && state.head * 2 > state.waiters.count {
                    state.waiters.removeFirst(state.head)
                    state.head = 0
                }
                return continuation
            }
            state.available += 1
            return nil
        }
        next?.resume()
    }
}
