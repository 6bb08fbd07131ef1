import Foundation
import Logging
import SlipwayCore

/// Copies a whole SQLite database into an empty PostgreSQL one: every table, in one PostgreSQL
/// transaction, then compares each table's row count. Ids, sequence numbers, password hashes, refresh tokens
/// and agent tokens carry over, so users, sessions and agents go on working after the move.
public enum DatabaseCopy {
    /// The tables, parents before children.
    static let tables = [
        "settings", "organizations", "users", "refresh_tokens", "services", "service_environments", "product_tiers", "image_registries",
        "image_configs", "tier_versions", "tier_version_images", "instances", "rollouts", "rollout_instances", "audit_log", "webhooks",
        "webhook_deliveries",
    ]

    /// Rows copied per table.
    public struct Report: Sendable {
        public var rows: [(table: String, count: Int)]
    }

    public static func copy(fromSQLite path: String, toPostgres url: String, logger: Logger) async throws -> Report {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreOpeningError("there is no SQLite database at \(path)")
        }
        let source = try SQLStore(sqlitePath: path)
        let target = try await SQLStore.openPostgres(url: url, driveRollouts: false, logger: logger)
        // One snapshot of the source, read whole: a database small enough for one machine's SQLite.
        let rows = try await source.database.read { db in
            try tables.map { table in (table, try db.cachedRows(sql: "SELECT * FROM \(table)", arguments: [SQLValue]())) }
        }
        defer { Task { await target.close() } }
        guard let postgres = target.replication?.backend else { throw StoreOpeningError("--to is not a PostgreSQL database") }
        let counts = try await postgres.write(timeout: .hours(1)) { db -> [(String, Int)] in
            let existing = try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM organizations") ?? 0
                + (db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM settings") ?? 0)
            guard existing == 0 else {
                throw StoreOpeningError("the PostgreSQL database already holds data; copy into an empty database")
            }
            for (table, tableRows) in rows {
                let types = try columnTypes(table, db)
                for row in tableRows {
                    let columns = row.columns.filter { types[$0] != nil }
                    let values = columns.map { convert(row.value($0), to: types[$0]!) }
                    try db.cachedExecute(
                        sql: "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(SQLStore.placeholders(columns.count)))", arguments: values)
                }
                // rollout_instances.seq is a position within its rollout, not an identity.
                if types["seq"] == "bigint", table != "rollout_instances" {
                    try db.cachedExecute(
                        sql: "SELECT setval(pg_get_serial_sequence('\(table)', 'seq'), GREATEST((SELECT MAX(seq) FROM \(table)), 1))",
                        arguments: [SQLValue]())
                }
            }
            return try tables.map { table in (table, try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM \(table)") ?? -1) }
        }
        for ((table, copied), (_, sourceRows)) in zip(counts, rows) where copied != sourceRows.count {
            throw SlipwayError.failedRequest("table \(table): \(sourceRows.count) rows in SQLite but \(copied) in PostgreSQL")
        }
        return Report(rows: counts)
    }

    /// PostgreSQL's type of each column of a table (`bigint`, `text`, `boolean`, …).
    private static func columnTypes(_ table: String, _ db: any SQLSession) throws -> [String: String] {
        var types: [String: String] = [:]
        for row in try db.cachedRows(
            sql: "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?",
            arguments: [table])
        {
            types[row["column_name"]] = row["data_type"]
        }
        return types
    }

    /// A SQLite value as the PostgreSQL column wants it: SQLite keeps dates as text and booleans as integers.
    private static func convert(_ value: SQLValue, to type: String) -> SQLValue {
        if case .null = value { return .null }
        switch type {
        case "timestamp with time zone": return Date.decode(value).map(SQLValue.date) ?? .null
        case "boolean": return Bool.decode(value).map(SQLValue.bool) ?? .null
        case "bigint": return Int64.decode(value).map(SQLValue.int) ?? .null
        case "double precision": return Double.decode(value).map(SQLValue.double) ?? .null
        default: return String.decode(value).map(SQLValue.text) ?? .null
        }
    }
}
