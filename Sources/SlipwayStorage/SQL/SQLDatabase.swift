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
}
