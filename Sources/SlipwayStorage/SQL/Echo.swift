import Synchronization

/// A one-time answer to someone waiting for a signal: heard, or given up on. Either may come before or
/// after the wait begins; the first one counts.
public final class Echo: Sendable {
    private let state = Mutex<(heard: Bool?, waiter: CheckedContinuation<Bool, Never>?)>((nil, nil))

    public init() {}

    /// The signal came.
    public func signal() { settle(true) }

    /// The signal will not be waited for any longer.
    public func expire() { settle(false) }

    private func settle(_ heard: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard state.heard == nil else { return nil }
            state.heard = heard
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: heard)
    }

    /// Whether the signal came (false: it expired first).
    @discardableResult
    public func wait() async -> Bool {
        await withCheckedContinuation { continuation in
            let heard = state.withLock { state -> Bool? in
                if state.heard == nil { state.waiter = continuation }
                return state.heard
            }
            if let heard { continuation.resume(returning: heard) }
        }
    }

    /// ``wait()``, giving up after `timeout`.
    public func wait(atMost timeout: Duration) async -> Bool {
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.expire()
        }
        defer { timer.cancel() }
        return await wait()
    }
}
