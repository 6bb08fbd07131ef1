import Foundation
import Synchronization

// The one interface the store's queries are written against. SQLite (GRDB) and PostgreSQL (postgres-nio)
// each implement it, so every query, check and message exists once. Statements use `?` placeholders and
// the SQL both databases share; each backend binds, runs and decodes them its own way.

/// A value bound to a placeholder or read from a column.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case bool(Bool)
    case date(Date)
}

/// One transaction, open on one connection. Calls block the calling thread until the database answers, so
/// a backend runs the transaction's body on a thread of its own, never on the concurrency pool.
public protocol SQLSession {
    /// The rows `sql` selects.
    func cachedRows(sql: String, arguments: [SQLValue]) throws -> [SQLRow]
    /// Runs a statement that returns no rows.
    func cachedExecute(sql: String, arguments: [SQLValue]) throws
    /// Tells the other processes sharing the database (after the commit) that `payload` changed on `channel`;
    /// nothing to do where only one process opens the database.
    func notify(_ channel: SQLChannel, _ payload: String) throws
    /// Instances whose kept agent answers this transaction makes stale; the backend drops them from the
    /// directory after the commit, before the writing call returns.
    var staleAgentSessions: StaleAgentSessions { get }
    /// The first row answered by the statement run just before this transaction
    /// (``SQLDatabase/write(readingFirst:_:)``); nil when none was run.
    func rowReadFirst() throws -> SQLRow?
}

extension SQLSession {
    func rowReadFirst() throws -> SQLRow? { nil }
}

/// The instance rows (`seq`) a transaction changed the desired generation of, or deleted.
public final class StaleAgentSessions: Sendable {
    private let rows = Mutex<(changed: [Int64], deleted: [Int64])>(([], []))

    public init() {}

    public func changed(_ seq: Int64) { rows.withLock { $0.changed.append(seq) } }
    var isEmpty: Bool { rows.withLock { $0.changed.isEmpty && $0.deleted.isEmpty } }
    public func deleted(_ seq: Int64) { rows.withLock { $0.deleted.append(seq) } }

    /// Drops the rows' answers from `agents`; called once the transaction has committed.
    func forget(in agents: AgentDirectory) {
        let (changed, deleted) = rows.withLock { $0 }
        if !changed.isEmpty || !deleted.isEmpty { agents.forget(changedRows: changed, deletedRows: deleted) }
    }
}

/// What one process tells the others sharing a PostgreSQL database. Every kind travels on one PostgreSQL
/// channel (``SQLChannel/postgresChannel``, payload "<kind> <details>"), so a listener hears them in the
/// order their transactions committed, whatever their kind.
public enum SQLChannel: String, Sendable, CaseIterable {
    /// A rollout (details: its id) has work for whichever replica drives rollouts.
    case rolloutWork = "rollout"
    /// An instance's desired state changed or it was deleted (details: "changed|deleted <seq> <id>", sent by a trigger).
    case instances = "instance"
    /// A catalog table changed (details: the table; sent by triggers).
    case catalog = "catalog"

    /// The PostgreSQL channel all of them travel on.
    public static let postgresChannel = "slipway_changes"
}

extension SQLSession {
    func cachedRows(sql: String, arguments: [any SQLBindable] = []) throws -> [SQLRow] {
        try cachedRows(sql: sql, arguments: arguments.map(\.sqlValue))
    }

    func cachedRow(sql: String, arguments: [any SQLBindable] = []) throws -> SQLRow? {
        try cachedRows(sql: sql, arguments: arguments.map(\.sqlValue)).first
    }

    func cachedValue<Value: SQLColumn>(_ type: Value.Type, sql: String, arguments: [any SQLBindable] = []) throws -> Value? {
        guard let row = try cachedRow(sql: sql, arguments: arguments) else { return nil }
        return Value.decode(row.value(at: 0))
    }

    func cachedValues<Value: SQLColumn>(_ type: Value.Type, sql: String, arguments: [any SQLBindable] = []) throws -> [Value] {
        try cachedRows(sql: sql, arguments: arguments).compactMap { Value.decode($0.value(at: 0)) }
    }

    func cachedExecute(sql: String, arguments: [any SQLBindable] = []) throws {
        try cachedExecute(sql: sql, arguments: arguments.map(\.sqlValue))
    }
}

/// A row: values by column name, as the database returned them.
public struct SQLRow: Sendable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public func value(at index: Int) -> SQLValue {
        index < values.count ? values[index] : .null
    }

    /// The value of a column; `.null` for a column the row does not have. With several of one name (a join), the first.
    public func value(_ column: String) -> SQLValue {
        guard let index = columns.firstIndex(of: column) else { return .null }
        return values[index]
    }

    /// A column decoded as `T`. A value the type cannot hold decodes as the type's empty value rather than
    /// trapping: the schema guarantees the types, so this only guards against a corrupt row.
    public subscript<T: SQLColumn>(_ column: String) -> T {
        T.decode(value(column)) ?? T.fallback
    }

    public subscript<T: SQLColumn>(_ index: Int) -> T {
        T.decode(value(at: index)) ?? T.fallback
    }
}

/// A Swift type bound to a placeholder.
public protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

/// A Swift type read from a column.
public protocol SQLColumn {
    static func decode(_ value: SQLValue) -> Self?
    /// What a value of the wrong type decodes as (see ``SQLRow/subscript(_:)-(String)``).
    static var fallback: Self { get }
}

extension String: SQLBindable, SQLColumn {
    public var sqlValue: SQLValue { .text(self) }
    public static func decode(_ value: SQLValue) -> String? {
        switch value {
        case .text(let text): text
        case .int(let int): String(int)
        default: nil
        }
    }
    public static var fallback: String { "" }
}

extension Int: SQLBindable, SQLColumn {
    public var sqlValue: SQLValue { .int(Int64(self)) }
    public static func decode(_ value: SQLValue) -> Int? { Int64.decode(value).map(Int.init) }
    public static var fallback: Int { 0 }
}

extension Int64: SQLBindable, SQLColumn {
    public var sqlValue: SQLValue { .int(self) }
    public static func decode(_ value: SQLValue) -> Int64? {
        switch value {
        case .int(let int): int
        case .double(let double): Int64(exactly: double.rounded())
        case .bool(let bool): bool ? 1 : 0
        default: nil
        }
    }
    public static var fallback: Int64 { 0 }
}

extension Double: SQLBindable, SQLColumn {
    public var sqlValue: SQLValue { .double(self) }
    public static func decode(_ value: SQLValue) -> Double? {
        switch value {
        case .double(let double): double
        case .int(let int): Double(int)
        default: nil
        }
    }
    public static var fallback: Double { 0 }
}

extension Bool: SQLBindable, SQLColumn {
    public var sqlValue: SQLValue { .bool(self) }
    public static func decode(_ value: SQLValue) -> Bool? {
        switch value {
        case .bool(let bool): bool
        case .int(let int): int != 0
        default: nil
        }
    }
    public static var fallback: Bool { false }
}

extension Date: SQLBindable, SQLColumn {
    public var sqlValue: SQLValue { .date(self) }
    public static func decode(_ value: SQLValue) -> Date? {
        switch value {
        case .date(let date): date
        case .double(let seconds): Date(timeIntervalSince1970: seconds)
        case .text(let text): SQLiteDates.parse(text)
        default: nil
        }
    }
    public static var fallback: Date { Date(timeIntervalSince1970: 0) }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

extension Optional: SQLColumn where Wrapped: SQLColumn {
    public static func decode(_ value: SQLValue) -> Wrapped?? {
        if case .null = value { return .some(nil) }
        return Wrapped.decode(value).map { .some($0) }
    }
    public static var fallback: Wrapped? { nil }
}

/// Failures both backends report in these words, so the store maps them once.
public enum SQLFailure: Error, Sendable {
    /// A UNIQUE constraint refused the write.
    case uniqueViolation
}
