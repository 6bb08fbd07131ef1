import Foundation
import GRDB
import SlipwayCore
import Synchronization

/// The embedded default database: one SQLite file in WAL mode, foreign keys on, `synchronous=FULL` so that
/// an acknowledged write survives a crash of the process or the machine.
final class SQLiteDatabase: SQLDatabase {
    let pool: DatabasePool

    /// A connection of its own that moves the write-ahead log into the database file in the background.
    private let checkpointer: DatabaseQueue
    private let checkpoints: Task<Void, Never>

    /// Reads in flight at once: one per reader connection.
    let readers = AsyncLimiter(limit: 4)

    /// The kept agent answers, which each write's commit may make stale.
    private let agents: AgentDirectory
    /// Keeps other processes off the file while this one has it open.
    private let lock: SQLiteFileLock

    /// Opens (creating if needed) the database at `path` and brings its schema up to date. Every commit's
    /// changes to instances are reported to `agents`.
    init(path: String, agents: AgentDirectory) throws {
        lock = try SQLiteFileLock(database: path)
        // A new database file is made readable by its owner only; SQLite gives its -wal and -shm files the
        // database file's mode.
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 { close(descriptor) }
        var configuration = Configuration()
        configuration.maximumReaderCount = 4
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The writer no longer checkpoints on commit (which stalled every request behind it);
            // the checkpointer below does it beside the writer. This is only a bound in case it falls behind.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 20000")
        }
        pool = try Self.opening {
            let pool = try DatabasePool(path: path, configuration: configuration)
            try SQLiteMigrations.refuseNewer(pool, path: path)
            try SQLiteMigrations.migrator.migrate(pool)
            return pool
        }
        self.agents = agents
        let checkpointer = try Self.opening { try DatabaseQueue(path: path) }
        self.checkpointer = checkpointer
        checkpoints = Task.detached(priority: .utility) {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                // PASSIVE: copies what it can without waiting for, or blocking, the writer and the readers.
                _ = try? await checkpointer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(PASSIVE)") }
            }
        }
    }

    deinit {
        checkpoints.cancel()
    }

    /// Runs `open` again while SQLite answers busy: opening a WAL database can find another connection (a
    /// checkpoint, a process closing) holding a lock that the busy timeout does not cover yet. Up to 2 s.
    static func opening<T>(_ open: () throws -> T) throws -> T {
        var attempt = 1
        while true {
            do {
                return try open()
            } catch let error as DatabaseError where isBusy(error) && attempt < 100 {
                attempt += 1
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
    }

    static func isBusy(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    /// A read transaction, after waiting (without a thread) for a free reader.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await Self.mapBusy {
            try await self.readers.withPermit { try await self.pool.read { db in try body(SQLiteSession(db: db, staleAgentSessions: StaleAgentSessions())) } }
        }
    }

    /// A write transaction.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        let stale = StaleAgentSessions()
        let result = try await Self.mapBusy { try await self.pool.write { db in try body(SQLiteSession(db: db, staleAgentSessions: stale)) } }
        stale.forget(in: agents)
        return result
    }

    /// SQLite's busy and locked errors say "not now": they become a temporary error (503), never a bare 500.
    static func mapBusy<T>(_ work: () async throws -> T) async throws -> T {
        do {
            return try await work()
        } catch let error as DatabaseError where isBusy(error) {
            throw SlipwayError.unavailable("the database is busy; retry the request")
        }
    }
}

/// One transaction on a GRDB connection, through the connection's statement cache: the hot paths run the
/// same few statements again and again, and compiling one (with GRDB's authorizer) costs more than running it.
struct SQLiteSession: SQLSession {
    let db: Database
    let staleAgentSessions: StaleAgentSessions

    func cachedRows(sql: String, arguments: [SQLValue]) throws -> [SQLRow] {
        try Self.mappingFailures {
            let statement = try db.cachedStatement(sql: sql)
            // One array of names for every row of the result.
            let columns = statement.columnNames
            let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
            var rows: [SQLRow] = []
            while let row = try cursor.next() {
                rows.append(SQLRow(columns: columns, values: row.databaseValues.map(Self.value)))
            }
            return rows
        }
    }

    func cachedExecute(sql: String, arguments: [SQLValue]) throws {
        try Self.mappingFailures {
            try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        }
    }

    /// Nothing to tell: only this process opens the file.
    func notify(_ channel: SQLChannel, _ payload: String) throws {}

    static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(values.map(databaseValue))
    }

    static func databaseValue(_ value: SQLValue) -> DatabaseValue {
        switch value {
        case .null: .null
        case .int(let int): int.databaseValue
        case .double(let double): double.databaseValue
        case .text(let text): text.databaseValue
        case .bool(let bool): bool.databaseValue
        // GRDB's own format ("yyyy-MM-dd HH:mm:ss.SSS", UTC), so files written before stay readable.
        case .date(let date): date.databaseValue
        }
    }

    static func value(_ value: DatabaseValue) -> SQLValue {
        switch value.storage {
        case .null: .null
        case .int64(let int): .int(int)
        case .double(let double): .double(double)
        case .string(let string): .text(string)
        case .blob(let data): .text(String(decoding: data, as: UTF8.self))
        }
    }

    /// A UNIQUE constraint's refusal becomes ``SQLFailure/uniqueViolation``; other errors pass as they are.
    static func mappingFailures<T>(_ work: () throws -> T) throws -> T {
        do {
            return try work()
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw SQLFailure.uniqueViolation
        }
    }
}

/// Dates as GRDB stores them in SQLite.
enum SQLiteDates {
    static func parse(_ text: String) -> Date? {
        Date.fromDatabaseValue(text.databaseValue)
    }
}
