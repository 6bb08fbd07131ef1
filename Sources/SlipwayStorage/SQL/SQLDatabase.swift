import Foundation
import SlipwayCore

/// A database the store runs its transactions on: the SQLite file or a PostgreSQL server.
///
/// Bodies are synchronous and run on a thread the backend owns, never on Swift's concurrency pool.
/// A write body may run more than once (PostgreSQL retries a transaction that lost a serialization
/// conflict), so it must only touch the database and its own locals. Failures of the database itself
/// (down, busy, out of connections) come out as ``SlipwayError/unavailable(_:)``.
public protocol SQLDatabase: Sendable {
    /// A read-only transaction that sees one snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
    /// A read-write transaction, serializable: as if no other transaction ran beside it.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
    /// A write transaction whose body may read the row `first` answers (``SQLSession/rowReadFirst()``): a
    /// statement run on the same connection just before the transaction begins. On PostgreSQL it is outside the
    /// transaction, so it takes no serializable read locks, and other writers' rows it counted do not conflict
    /// with this transaction (see `SQLStore.checkQuota`).
    func write<T: Sendable>(readingFirst first: SQLStatement, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
}

extension SQLDatabase {
    /// Where one writer runs at a time nothing is gained by reading outside the transaction: no row is read first.
    func write<T: Sendable>(readingFirst first: SQLStatement, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await write(body)
    }
}

/// A statement and its arguments.
public struct SQLStatement: Sendable {
    public var sql: String
    public var arguments: [SQLValue]

    public init(sql: String, arguments: [SQLValue]) {
        self.sql = sql
        self.arguments = arguments
    }
}
