import Foundation
import Logging
import PostgresNIO
import SlipwayCore
import Synchronization

/// How replicas on one PostgreSQL database keep each other current, and which of them drives rollouts.
///
/// - One connection of its own LISTENs on the channels of ``SQLChannel``: triggers announce every change
///   of an instance's desired state and of the catalog, and the store announces rollouts with work for
///   the engine. While that connection is down, notifications can be missed, so ``isListening`` is false
///   (the store then trusts none of its caches) and a reconnect starts with a resync.
/// - The rollout engine runs on the replica holding the `rollout-engine` lease: a row with an expiry on
///   PostgreSQL's clock, renewed every second, taken over by another replica once it has expired.
final class PostgresCoordination: Sendable {
    struct Handlers: Sendable {
        var instanceChanged: @Sendable (_ seq: Int64, _ id: String, _ deleted: Bool) -> Void
        var catalogChanged: @Sendable () -> Void
        var rolloutWork: @Sendable (_ rolloutId: String) -> Void
        /// Notifications may have been missed: forget every cached answer and wake every waiter.
        var resync: @Sendable () -> Void
        /// This replica took the lease: it drives rollouts from now on.
        var leadership: @Sendable () -> Void
    }

    static let leaseName = "rollout-engine"
    static let leaseSeconds = 5.0
    static let renewEvery = Duration.seconds(1)

    let holder: String
    private let pool: PostgresConnectionPool
    private let logger: Logger
    private let handlers: Handlers
    private let takesLease: Bool
    private let listening = Atomic<Bool>(false)
    /// Until when (on this process's monotonic clock) the lease is surely ours; nil when it is not.
    private let leaseValidUntil = Mutex<ContinuousClock.Instant?>(nil)
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// Writers waiting to hear their barrier back, by token.
    private let echoes = Mutex<[String: Echo]>([:])

    init(pool: PostgresConnectionPool, logger: Logger, takesLease: Bool, handlers: Handlers) {
        self.takesLease = takesLease
        holder = "\(ProcessInfo.processInfo.hostName)/\(getpid())/\(UUID().uuidString.prefix(8))"
        self.pool = pool
        self.logger = logger
        self.handlers = handlers
    }

    var isListening: Bool { listening.load(ordering: .acquiring) }

    /// Whether this replica holds the lease now, with a margin for the time a renewal takes.
    var holdsLease: Bool {
        leaseValidUntil.withLock { until in until.map { ContinuousClock.now < $0 } ?? false }
    }

    func start() {
        let listen = Task<Void, Never> { [weak self] in await self?.listenLoop() }
        let lease = takesLease ? Task<Void, Never> { [weak self] in await self?.leaseLoop() } : nil
        tasks.withLock { $0 = [listen] + (lease.map { [$0] } ?? []) }
    }

    func cancel() {
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }

    /// Stops listening and hands the lease back, so another replica takes over at once.
    func stop() async {
        for task in tasks.withLock({ $0 }) { task.cancel() }
        if leaseValidUntil.withLock({ $0 }) != nil {
            leaseValidUntil.withLock { $0 = nil }
            _ = try? await pool.withConnection { connection in
                try await connection.query(
                    "DELETE FROM slipway_leases WHERE name = \(Self.leaseName) AND holder = \(holder)", logger: logger)
            }
        }
    }

    // MARK: Listening

    private func listenLoop() async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                let connection = try await pool.openDedicated()
                defer { connection.closeInBackground() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var started = 0
                    for channel in SQLChannel.allCases {
                        let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
                        group.addTask {
                            defer { readyContinuation.finish() }
                            try await connection.listen(on: channel.rawValue) { notifications in
                                readyContinuation.yield()
                                for try await notification in notifications { self.deliver(channel, notification.payload) }
                            }
                        }
                        for await _ in ready { break }
                        started += 1
                    }
                    // LISTEN is in place on every channel: from here nothing is missed, so whatever was
                    // missed before is made good once.
                    listening.store(true, ordering: .releasing)
                    handlers.resync()
                    delay = .milliseconds(100)
                    logger.info("listening for other replicas' changes", metadata: ["channels": "\(started)"])
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning(
                    "lost the PostgreSQL notification connection; caches are bypassed until it is back",
                    metadata: ["error": "\(PostgresConnectionPool.describe(error))"])
            }
            listening.store(false, ordering: .releasing)
            handlers.resync()
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(2))
        }
        listening.store(false, ordering: .releasing)
    }

    private func deliver(_ channel: SQLChannel, _ payload: String) {
        switch channel {
        case .instances:
            let parts = payload.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, let seq = Int64(parts[1]) else { return }
            handlers.instanceChanged(seq, String(parts[2]), parts[0] == "deleted")
        case .catalog:
            handlers.catalogChanged()
        case .rolloutWork:
            handlers.rolloutWork(payload)
        case .barrier:
            echoes.withLock { $0.removeValue(forKey: payload) }?.signal()
        }
    }

    // MARK: Barriers

    /// Runs `send`, the write that may send the barrier `token` (it says whether it did), and waits at most
    /// `timeout` to hear it back. Not listening, there is nothing to wait for: caches are bypassed meanwhile.
    func withBarrier<T>(_ token: String, timeout: Duration = .milliseconds(250), _ send: () async throws -> (T, sent: Bool)) async throws -> T {
        guard isListening else { return try await send().0 }
        // Registered before the write, so an echo that comes back at once is not missed.
        let echo = Echo()
        echoes.withLock { $0[token] = echo }
        defer { echoes.withLock { $0[token] = nil } }
        let result = try await send()
        guard result.sent else { return result.0 }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            echo.signal()
        }
        await echo.wait()
        timer.cancel()
        return result.0
    }

    // MARK: The engine's lease

    private func leaseLoop() async {
        while !Task.isCancelled {
            let started = ContinuousClock.now
            var held = false
            do {
                held = try await pool.withConnection { connection in
                    let rows = try await connection.query(
                        """
                        INSERT INTO slipway_leases (name, holder, expires_at)
                        VALUES (\(Self.leaseName), \(holder), now() + make_interval(secs => \(Self.leaseSeconds)))
                        ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                        WHERE slipway_leases.holder = EXCLUDED.holder OR slipway_leases.expires_at < now()
                        RETURNING holder
                        """, logger: logger)
                    var count = 0
                    for try await _ in rows { count += 1 }
                    return count > 0
                }
            } catch {
                logger.debug("could not renew the rollout engine's lease", metadata: ["error": "\(PostgresConnectionPool.describe(error))"])
            }
            // Counted from before the renewal was sent, less a second of margin for delays. A failed renewal
            // keeps what is left of the last one: another replica cannot take the lease before it expires.
            let gained = leaseValidUntil.withLock { until -> Bool in
                let had = until.map { ContinuousClock.now < $0 } ?? false
                if held { until = started + .seconds(Self.leaseSeconds - 1) }
                return held && !had
            }
            if gained {
                logger.info("this replica now drives rollouts", metadata: ["holder": "\(holder)"])
                handlers.leadership()
            }
            try? await Task.sleep(for: Self.renewEvery)
        }
    }
}

