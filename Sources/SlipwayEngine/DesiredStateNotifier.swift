import Foundation
import HeapModule

/// Wakes agents that long-poll for their desired state when it changes, so an idle fleet costs nothing.
///
/// Each instance has a counter of notifications. A poller takes a mark before it reads the database
/// and waits for the counter to move past it, so a change between the read and the wait is not missed.
///
/// A waiting long-poll holds a continuation and one entry in a deadline heap: the timeouts of every
/// wait share one timer task, set for the earliest deadline and firing at most ten times a second,
/// rather than a task and a timer each (at 10,000 idle agents those were a tenth of the server's memory
/// per connection, and a wake-up per timeout).
public actor DesiredStateNotifier {
    private struct Waiter {
        var token: UInt64
        var continuation: CheckedContinuation<Void, Never>
    }

    /// When a wait times out. Entries of waits that ended sooner stay until their deadline and are skipped then.
    private struct Deadline: Comparable {
        var at: ContinuousClock.Instant
        var instanceId: String
        var token: UInt64

        static func < (lhs: Deadline, rhs: Deadline) -> Bool { lhs.at < rhs.at }
        static func == (lhs: Deadline, rhs: Deadline) -> Bool { lhs.at == rhs.at && lhs.token == rhs.token }
    }

    private var counters: [String: UInt64] = [:]
    private var waiters: [String: [Waiter]] = [:]
    private var deadlines = Heap<Deadline>()
    private var nextToken: UInt64 = 0
    private var timer: Task<Void, Never>?
    private var timerFiresAt: ContinuousClock.Instant?
    private var lastFiring = ContinuousClock.now
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
                for waiter in waiting { waiter.continuation.resume() }
            }
        }
    }

    /// Wakes every waiting long-poll, to read its desired state again.
    public func notifyAll() {
        notify(Array(waiters.keys))
    }

    /// Returns when the instance is notified after `mark`, when `timeout` passes, or when the task is cancelled.
    /// True when the instance was notified after `mark` (its desired state has most likely changed).
    @discardableResult
    public func wait(for instanceId: String, after mark: UInt64, timeout: Duration) async -> Bool {
        guard counters[instanceId, default: 0] == mark, timeout > .zero, !shuttingDown else { return counters[instanceId, default: 0] != mark }
        nextToken &+= 1
        let token = nextToken
        let deadline = ContinuousClock.now.advanced(by: timeout)
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                waiters[instanceId, default: []].append(Waiter(token: token, continuation: continuation))
                deadlines.insert(Deadline(at: deadline, instanceId: instanceId, token: token))
                if timerFiresAt.map({ max(deadline, lastFiring.advanced(by: Self.timerCoalescing)) < $0 }) ?? true { setTimer(for: deadline) }
            }
        } onCancel: {
            Task { [weak self] in await self?.resume(instanceId, token) }
        }
        return counters[instanceId, default: 0] != mark
    }

    /// The least time between two firings of the timer: with 10,000 agents re-polling every 30 s a deadline
    /// passes every 3 ms, and each firing is a task and a wake-up. A wait may end up to this much late.
    static let timerCoalescing = Duration.milliseconds(100)

    private func setTimer(for deadline: ContinuousClock.Instant) {
        timer?.cancel()
        let instant = max(deadline, lastFiring.advanced(by: Self.timerCoalescing))
        timerFiresAt = instant
        timer = Task { [weak self] in
            do { try await Task.sleep(until: instant, clock: .continuous) } catch { return }
            await self?.expire()
        }
    }

    /// Ends the waits whose deadline has passed, and sets the timer for the next.
    private func expire() {
        timer = nil
        timerFiresAt = nil
        let now = ContinuousClock.now
        lastFiring = now
        while let first = deadlines.min, first.at <= now {
            deadlines.removeMin()
            resume(first.instanceId, first.token)
        }
        if let next = deadlines.min { setTimer(for: next.at) }
    }

    private func resume(_ instanceId: String, _ token: UInt64) {
        // Changed in place: a copy of the list would be copied again on write.
        guard let index = waiters[instanceId]?.firstIndex(where: { $0.token == token }) else { return }
        let waiter = waiters[instanceId]!.remove(at: index)
        if waiters[instanceId]!.isEmpty { waiters[instanceId] = nil }
        waiter.continuation.resume()
    }

    /// Ends every wait now and every later one at once, so a shutting-down server is not held up by long-polls.
    public func shutdown() {
        shuttingDown = true
        let all = waiters
        waiters = [:]
        deadlines = Heap()
        timer?.cancel()
        timer = nil
        timerFiresAt = nil
        for waiter in all.values.joined() { waiter.continuation.resume() }
    }
}
