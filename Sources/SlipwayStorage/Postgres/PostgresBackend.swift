import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO
import SlipwayCore
import Synchronization

/// PostgreSQL behind the store, shared by any number of `slipwayd` processes.
///
/// Writes run at SERIALIZABLE and are retried when PostgreSQL aborts one for a conflict, so the store's
/// read-check-write transactions behave as they do on SQLite's single writer. Transaction bodies are
/// synchronous (the store's queries are written once for both databases) and run on a thread pool sized
/// like the connection pool, never on Swift's concurrency pool.
final class PostgresBackend: SQLDatabase {
    let pool: PostgresConnectionPool
    private let threads: NIOThreadPool
    private let logger: Logger
    /// A transaction that runs longer than this fails (503) and its connection is closed: a server that
    /// stopped answering, or a connection that broke without saying so, must not hold a request forever.
    private let transactionTimeout: TimeAmount = .seconds(10)
    private let maxAttempts = 8
    private let retries = AsyncLimiter(limit: 1)
    /// Retried writes (not the first attempts that joined them) waiting for or holding `retries`.
    private let retrying = Atomic<Int>(0)
    /// Transactions PostgreSQL aborted for a serialization conflict, since the start.
    let conflicts = Atomic<Int>(0)

    /// The kept agent answers, which each write's commit may make stale.
    private let agents: AgentDirectory

    init(options: PostgresOptions, agents: AgentDirectory, logger: Logger) throws {
        self.agents = agents
        pool = try PostgresConnectionPool(options: options, eventLoops: MultiThreadedEventLoopGroup.singleton, logger: logger)
        threads = NIOThreadPool(numberOfThreads: options.poolSize)
        threads.start()
        // postgres-nio tags its logger with the connection on every query, which costs time even when nothing
        // is logged: it gets a silent logger unless its debug lines were asked for.
        self.logger = logger.logLevel <= .debug ? logger : Logger(label: logger.label, factory: { _ in SwiftLogNoOpLogHandler() })
    }

    deinit {
        threads.shutdownGracefully { _ in }
    }

    func shutdown() async {
        await pool.close()
        try? await threads.shutdownGracefully()
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await transaction(.read, body)
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await transaction(.write, body)
    }

    func write<T: Sendable>(readingFirst first: SQLStatement, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await transaction(.write, readingFirst: first, body)
    }

    /// A write that may take longer than a request's transaction (a whole database copied in).
    func write<T: Sendable>(timeout: TimeAmount, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await transaction(.write, timeout: timeout, body)
    }

    private func transaction<T: Sendable>(
        _ kind: PostgresSession.Kind, timeout: TimeAmount? = nil, readingFirst first: SQLStatement? = nil,
        _ body: @escaping @Sendable (any SQLSession) throws -> T
    ) async throws -> T {
        let transactionTimeout = timeout ?? self.transactionTimeout
        var attempt = 1
        while true {
            do {
                let stale = StaleAgentSessions()
                let run = {
                    try await self.pool.withConnection { connection in
                        try await self.threads.runIfActive { [logger = self.logger] in
                            var session = PostgresSession(
                                connection: connection, logger: logger, staleAgentSessions: stale, deadline: .now() + transactionTimeout)
                            // Sent ahead of BEGIN, so it runs outside the transaction; its answer is read when asked for.
                            session.firstAnswer = first.map { session.send(PostgresSQL.translate($0.sql), $0.arguments) }
                            return try session.run(kind, body)
                        }
                    }
                }
                // A transaction that conflicted is retried in single file, and while any retry is waiting or
                // running, new writes join the same file: writers piling onto one row (an image config updated
                // from many places) then take turns, as on SQLite's single writer, instead of conflicting with
                // each other again until they give up. Only retries keep the file open: were the writes that
                // joined it to count, a steady load would keep every write in single file long after the last
                // conflict. Without conflicts, writes run side by side.
                let result: T
                if attempt > 1 {
                    retrying.wrappingAdd(1, ordering: .acquiringAndReleasing)
                    defer { retrying.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
                    result = try await retries.withPermit(run)
                } else if retrying.load(ordering: .acquiring) > 0 {
                    result = try await retries.withPermit(run)
                } else {
                    result = try await run()
                }
                stale.forget(in: agents)
                return result
            } catch PostgresSession.Retry.conflict where attempt < maxAttempts {
                conflicts.wrappingAdd(1, ordering: .relaxed)
                attempt += 1
                // Conflicting transactions retried at once would meet again: wait a little, more each time.
                try await Task.sleep(for: .microseconds(Int.random(in: 0...(500 << min(attempt, 6)))))
            } catch PostgresSession.Retry.conflict {
                throw SlipwayError.unavailable("the database stayed too busy with conflicting changes; retry the request")
            } catch is NIOThreadPoolError.ThreadPoolInactive {
                throw SlipwayError.unavailable("the server is shutting down; retry the request")
            }
        }
    }
}

/// One transaction on one connection, driven from a pool thread: each call waits for PostgreSQL's answer.
struct PostgresSession: SQLSession {
    enum Retry: Error { case conflict }

    let connection: PostgresConnection
    let logger: Logger
    let staleAgentSessions: StaleAgentSessions
    /// When every statement of the transaction must have been answered.
    let deadline: NIODeadline
    /// The answer of the statement sent just before BEGIN, if one was.
    var firstAnswer: EventLoopFuture<PostgresQueryResult>?

    /// A snapshot to read from, or a serializable write.
    enum Kind {
        case read, write

        var begin: String {
            switch self {
            case .read: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            case .write: "BEGIN ISOLATION LEVEL SERIALIZABLE"
            }
        }
    }

    /// Runs `body` between BEGIN and COMMIT. PostgreSQL answers a connection's statements in order, so
    /// BEGIN is sent without waiting for its answer (the first statement's answer comes after it), and its
    /// answer is checked before COMMIT. A read-only transaction has nothing to lose: its COMMIT is sent and
    /// not waited for, and the next statement on the connection queues behind it.
    func run<T>(_ kind: Kind, _ body: (any SQLSession) throws -> T) throws -> T {
        let began = send(kind.begin, [])
        do {
            let result = try body(self)
            try settle(began)
            if kind == .read {
                _ = send("COMMIT", [])
            } else {
                try execute("COMMIT", [])
            }
            return result
        } catch {
            if !connection.isClosed { _ = try? execute("ROLLBACK", []) }
            throw error
        }
    }

    func cachedRows(sql: String, arguments: [SQLValue]) throws -> [SQLRow] {
        let result = try execute(PostgresSQL.translate(sql), arguments)
        guard let first = result.rows.first else { return [] }
        let columns = first.map(\.columnName)
        return result.rows.map { row in SQLRow(columns: columns, values: row.map(PostgresSQL.value)) }
    }

    func cachedExecute(sql: String, arguments: [SQLValue]) throws {
        _ = try execute(PostgresSQL.translate(sql), arguments)
    }

    func rowReadFirst() throws -> SQLRow? {
        guard let firstAnswer, let first = try settle(firstAnswer).rows.first else { return nil }
        return SQLRow(columns: first.map(\.columnName), values: first.map(PostgresSQL.value))
    }

    func notify(_ channel: SQLChannel, _ payload: String) throws {
        _ = try execute("SELECT pg_notify($1, $2)", [.text(SQLChannel.postgresChannel), .text(channel.rawValue + " " + payload)])
    }

    @discardableResult
    private func execute(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        try settle(send(sql, arguments))
    }

    fileprivate func send(_ sql: String, _ arguments: [SQLValue]) -> EventLoopFuture<PostgresQueryResult> {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments { PostgresSQL.bind(argument, into: &binds) }
        return connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
    }

    /// The answer to a statement sent, or the store's error for its failure.
    @discardableResult
    private func settle(_ sent: EventLoopFuture<PostgresQueryResult>) throws -> PostgresQueryResult {
        do {
            return try answered(sent)
        } catch is TimedOut {
            // Whatever the connection is doing, it is of no more use: the pool drops it.
            connection.closeInBackground()
            throw SlipwayError.unavailable("PostgreSQL did not answer in time; retry the request")
        } catch let error as PSQLError {
            throw PostgresSQL.map(error, connection: connection)
        } catch let error as ChannelError {
            throw PostgresSQL.unreachable("\(error)")
        }
    }
}

struct TimedOut: Error {}

extension PostgresSession {
    /// Waits for `future`, but not past the deadline: a query on a connection that broke silently may never
    /// be answered.
    func answered<Value: Sendable>(_ future: EventLoopFuture<Value>) throws -> Value {
        let promise = connection.eventLoop.makePromise(of: Value.self)
        let settled = NIOLockedValueBox(false)
        let settle: @Sendable (Result<Value, any Error>) -> Void = { result in
            guard settled.withLockedValue({ done in defer { done = true }; return !done }) else { return }
            promise.completeWith(result)
        }
        let timer = connection.eventLoop.scheduleTask(deadline: deadline) { settle(.failure(TimedOut())) }
        future.whenComplete { result in
            timer.cancel()
            settle(result)
        }
        return try promise.futureResult.wait()
    }
}

/// Translation between the store's portable SQL and values, and PostgreSQL's.
enum PostgresSQL {
    private static let translated = Mutex<[String: String]>([:])

    /// `?` placeholders become `$1`, `$2`, …; text inside single quotes is left alone.
    static func translate(_ sql: String) -> String {
        if let known = translated.withLock({ $0[sql] }) { return known }
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var index = 0
        var quoted = false
        for character in sql {
            if character == "'" { quoted.toggle() }
            if character == "?" && !quoted {
                index += 1
                result += "$\(index)"
            } else {
                result.append(character)
            }
        }
        translated.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[sql] = result
        }
        return result
    }

    static func bind(_ value: SQLValue, into binds: inout PostgresBindings) {
        switch value {
        case .null: binds.appendNull()
        case .int(let int): binds.append(int)
        case .double(let double): binds.append(double)
        case .text(let text): binds.append(text)
        case .bool(let bool): binds.append(bool)
        case .date(let date): binds.append(date)
        }
    }

    static func value(_ cell: PostgresCell) -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int8, .int4, .int2: return (try? cell.decode(Int64.self)).map(SQLValue.int) ?? .null
        case .float8, .float4, .numeric: return (try? cell.decode(Double.self)).map(SQLValue.double) ?? .null
        case .bool: return (try? cell.decode(Bool.self)).map(SQLValue.bool) ?? .null
        case .timestamptz, .timestamp: return (try? cell.decode(Date.self)).map(SQLValue.date) ?? .null
        default: return (try? cell.decode(String.self)).map(SQLValue.text) ?? .null
        }
    }

    /// What the store makes of PostgreSQL's errors: conflicts are retried, a lost server is a 503, a unique
    /// violation is the store's to word; anything else is a bug and stays as it is.
    static func map(_ error: PSQLError, connection: PostgresConnection) -> any Error {
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            switch state {
            case "23505": return SQLFailure.uniqueViolation
            case "40001", "40P01": return PostgresSession.Retry.conflict
            case "25006": return error  // a write in a read-only transaction: a bug, not the user's
            default:
                // Class 08 (connection), 53 (resources), 57 (operator intervention: shutdown, restart), 58 (system).
                if ["08", "53", "57", "58"].contains(String(state.prefix(2))) {
                    return unreachable(error.serverInfo?[.message] ?? state)
                }
                return error
            }
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed, .queryCancelled:
            connection.closeInBackground()
            return unreachable(PostgresConnectionPool.describe(error))
        default:
            return error
        }
    }

    static func unreachable(_ reason: String) -> SlipwayError {
        .unavailable("the connection to PostgreSQL failed (\(reason)); retry the request")
    }
}
