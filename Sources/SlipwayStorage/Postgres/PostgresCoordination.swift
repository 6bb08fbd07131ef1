import Foundation
import Logging
import PostgresNIO
import SlipwayCore
import Synchronization

/// How replicas on one PostgreSQL database keep each other current, and which of them drives rollouts.
///
/// - One connection of its own LISTENs on the channel of ``SQLChannel``: triggers announce every change
///   of an instance's desired state and of the catalog, and the store announces rollouts with work for
///   the engine. While that connection is down, notifications can be missed, so ``isListening`` is false
///   (the store then trusts none of its caches) and a reconnect starts with a resync. A read that answers
///   from a cache first catches up (``catchUp(timeout:)``), so it sees every write acknowledged anywhere.
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
    /// Until when (on this process's monotonic clock) the lease is surely ours; nil when it is not.
    private let leaseValidUntil = Mutex<ContinuousClock.Instant?>(nil)
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// The connection that LISTENs, while it does: nil while changes cannot be heard of.
    private let listener = Mutex<PostgresConnection?>(nil)
    /// Reads waiting to catch up, and whether a round of fences is running for them.
    private let catchUps = Mutex<(running: Bool, waiting: [CheckedContinuation<Bool, Never>])>((false, []))

    init(pool: PostgresConnectionPool, logger: Logger, takesLease: Bool, handlers: Handlers) {
        self.takesLease = takesLease
        holder = "\(ProcessInfo.processInfo.hostName)/\(getpid())/\(UUID().uuidString.prefix(8))"
        self.pool = pool
        self.logger = logger
        self.handlers = handlers
    }

    var isListening: Bool { listener.withLock { $0 != nil } }

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
                // Called on the connection's event loop as each notification is read, in order: by the time a
                // later answer on this connection is seen, the notifications before it have been acted on.
                let context = connection.addListener(channel: SQLChannel.postgresChannel) { [weak self] _, notification in
                    self?.deliver(notification.payload)
                }
                defer { context.stop() }
                // Queued behind the LISTEN that adding the listener sends: once answered, LISTEN is in place, so
                // from here nothing is missed, and whatever was missed before is made good once.
                try await connection.query("LISTEN \(unescaped: SQLChannel.postgresChannel)", logger: logger)
                listener.withLock { $0 = connection }
                handlers.resync()
                delay = .milliseconds(100)
                logger.info("listening for other replicas' changes")
                try await withTaskCancellationHandler {
                    try await connection.closeFuture.get()
                } onCancel: {
                    connection.closeInBackground()
                }
                if Task.isCancelled { break }
                logger.warning("the PostgreSQL notification connection closed; caches are bypassed until it is back")
            } catch {
                if Task.isCancelled { break }
                logger.warning(
                    "lost the PostgreSQL notification connection; caches are bypassed until it is back",
                    metadata: ["error": "\(PostgresConnectionPool.describe(error))"])
            }
            listener.withLock { $0 = nil }
            handlers.resync()
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(2))
        }
        listener.withLock { $0 = nil }
    }

    /// Acts on one notification ("<kind> <details>", see ``SQLChannel``), in the order they come.
    private func deliver(_ notification: String) {
        let parts = notification.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let channel = SQLChannel(rawValue: String(parts[0])) else { return }
        let payload = String(parts[1])
        switch channel {
        case .instances:
            let parts = payload.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, let seq = Int64(parts[1]) else { return }
            handlers.instanceChanged(seq, String(parts[2]), parts[0] == "deleted")
        case .catalog:
            handlers.catalogChanged()
        case .rolloutWork:
            handlers.rolloutWork(payload)
        }
    }

    // MARK: Catching up

    /// Returns once every change committed by any replica before the call has been heard and acted on
    /// (true), or false when that cannot be known within `timeout` (not listening, PostgreSQL away): the
    /// caller then trusts nothing it keeps. The proof is an answer on the listening connection
    /// (``fenceOnListener(timeout:)``); reads that arrive while one is out wait for the next, which serves
    /// them all, so a busy replica asks about once per round trip however many reads it answers.
    func catchUp(timeout: Duration = .seconds(1)) async -> Bool {
        guard isListening else { return false }
        return await withCheckedContinuation { continuation in
            let startsRounds = catchUps.withLock { state -> Bool in
                state.waiting.append(continuation)
                defer { state.running = true }
                return !state.running
            }
            if startsRounds { Task { await self.catchUpRounds(timeout: timeout) } }
        }
    }

    private func catchUpRounds(timeout: Duration) async {
        while true {
            let round = catchUps.withLock { state -> [CheckedContinuation<Bool, Never>] in
                defer { state.waiting = [] }
                if state.waiting.isEmpty { state.running = false }
                return state.waiting
            }
            if round.isEmpty { return }
            let heard = await fenceOnListener(timeout: timeout)
            for waiter in round { waiter.resume(returning: heard) }
        }
    }

    /// Asks the listening connection for an answer, at most `timeout`. PostgreSQL sends a listener the
    /// notifications of every transaction that committed before a query ahead of the query's answer (a commit
    /// signals the listeners before it is acknowledged, and a backend passes on what it was signalled before it
    /// reads the next query), and ``deliver(_:)`` runs as each is read: so once the answer is in, every write
    /// acknowledged before the call has been acted on.
    private func fenceOnListener(timeout: Duration) async -> Bool {
        guard let connection = listener.withLock({ $0 }) else { return false }
        let answered = Echo()
        Task {
            do {
                _ = try await connection.query("SELECT 1", logger: logger)
                answered.signal()
            } catch {
                answered.expire()
            }
        }
        return await answered.wait(atMost: timeout)
    }

    // MARK: The engine's lease

    /// Renews the lease every second on a connection of its own: a pool busy with requests must not starve
    /// the renewal, or the lease would pass from replica to replica under load.
    private func leaseLoop() async {
        var connection: PostgresConnection?
        defer { connection?.closeInBackground() }
        while !Task.isCancelled {
            let started = ContinuousClock.now
            var held = false
            do {
                if connection == nil || connection?.isClosed == true { connection = try await pool.openDedicated() }
                held = try await renew(on: connection!)
            } catch {
                connection?.closeInBackground()
                connection = nil
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

    /// Takes or renews the lease; whether this replica holds it. Not answered within 3 s, the connection is
    /// given up: a renewal that hangs must not stop the next, and a slow one that succeeds still counts (the
    /// lease is valid here for 4 s from when the renewal was sent, 5 s on PostgreSQL's clock).
    private func renew(on connection: PostgresConnection) async throws -> Bool {
        let renewal = Task {
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
        let timer = Task {
            try await Task.sleep(for: .seconds(Self.leaseSeconds - 2))
            connection.closeInBackground()
        }
        defer { timer.cancel() }
        return try await renewal.value
    }
}
