import Synchronization

/// A one-time signal that may come before or after someone waits for it.
public final class Echo: Sendable {
    private let state = Mutex<(heard: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.heard else { return nil }
            state.heard = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    public func wait() async {
        await withCheckedContinuation { continuation in
            let heard = state.withLock { state -> Bool in
                if !state.heard { state.waiter = continuation }
                return state.heard
            }
            if heard { continuation.resume() }
        }
    }
}
