import Foundation

/// Wakes agents that long-poll for their desired state when it changes, so an idle fleet costs nothing.
///
/// Each instance has a counter of notifications. A poller takes a mark before it reads the database
/// and waits for the counter to move past it, so a change between the read and the wait is not missed.
public actor DesiredStateNotifier {
    private var counters: [String: UInt64] = [:]
    private var waiters: [String: [UUID: CheckedContinuation<Void, Never>]] = [:]
    private var shuttingDown = false

    public init() {}

    /// Long-polls waiting now (for the metrics).
    public var waiting: Int { waiters.values.reduce(0) { $0 + $1.count } }

    /// The current mark of an instance; pass it to ``wait(for:after:timeout:)``.
    public func mark(_ instanceId: String) -> UInt64 {
        counters[instanceId, default: 0]
    }

    /// Wakes whoever waits on these instances.
    public func notify(_ instanceIds: [String]) {
        for id in instanceIds {
            counters[id, default: 0] &+= 1
            if let waiting = waiters.removeValue(forKey: id) {
                for continuation in waiting.values { continuation.resume() }
            }
        }
    }

    /// Wakes every waiting long-poll, to read its desired state again.
    public func notifyAll() {
        notify(Array(waiters.keys))
    }

    /// Returns when the instance is notified after `mark`, when `timeout` passes, or when the task is cancelled.
    public func wait(for instanceId: String, after mark: UInt64, timeout: Duration) async {
        guard counters[instanceId, default: 0] == mark, timeout > .zero, !shuttingDown else { return }
        let token = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiters[instanceId, default: [:]][token] = continuation
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    await self?.resume(instanceId, token)
                }
            }
        } onCancel: {
            Task { [weak self] in await self?.resume(instanceId, token) }
        }
    }

    private func resume(_ instanceId: String, _ token: UUID) {
        guard let continuation = waiters[instanceId]?.removeValue(forKey: token) else { return }
        if waiters[instanceId]?.isEmpty == true { waiters[instanceId] = nil }
        continuation.resume()
    }

    /// Ends every wait now and every later one at once, so a shutting-down server is not held up by long-polls.
    public func shutdown() {
        shuttingDown = true
        let all = waiters
        waiters = [:]
        for continuation in all.values.flatMap(\.values) { continuation.resume() }
    }
}
