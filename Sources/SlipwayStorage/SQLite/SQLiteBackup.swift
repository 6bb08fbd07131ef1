import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// Backups of the SQLite database that an operator can trust: a consistent copy taken while slipwayd runs
/// on the file, and a check of a copy before it is restored.
///
/// The copy reads through a read-only connection of its own and never takes the lock that keeps a second
/// slipwayd off the file: SQLite's write-ahead log lets it read one snapshot (every transaction committed
/// before it began, the log included) while the server goes on writing.
public enum SQLiteBackup {
    /// What a backup or a check found in a database file.
    public struct Report: Sendable {
        /// The file.
        public var path: String
        /// Its size in bytes.
        public var bytes: Int64
        /// The rows of each table, by name.
        public var tables: [(name: String, rows: Int)]
        /// Where its schema stands against the migrations this binary knows.
        public var schema: SchemaState
    }

    /// A database's schema against the migrations this binary knows.
    public enum SchemaState: Sendable, Equatable {
        /// Every migration this binary knows, and no other: `latest` is the last.
        case current(latest: String)
        /// Written by an older Slipway: `missing` are the migrations a server opening it will run.
        case older(latest: String?, missing: [String])
        /// Written by a newer Slipway: migrations this binary does not know.
        case newer(unknown: [String])
        /// No Slipway migrations at all.
        case notSlipway
    }

    /// Why a backup was not made or a copy is not good. `isConfiguration` is true when what was asked for
    /// cannot be done as asked (a missing database, a PostgreSQL URL, a target that exists).
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        public let isConfiguration: Bool
        init(_ description: String, configuration: Bool = false) {
            self.description = description
            isConfiguration = configuration
        }
    }

    /// The last migration this binary knows.
    public static var latestMigration: String { SQLiteMigrations.migrator.migrations.last ?? "none" }

    // MARK: - Backing up

    /// Copies the SQLite database at `database` to a new file `target`: one consistent snapshot, written to a
    /// temporary file beside `target` (mode 0600), checked with `PRAGMA integrity_check`, flushed to disk, and
    /// only then given its name. Never overwrites a file.
    public static func backUp(database: String, to target: String) throws -> Report {
        if PostgresOptions.isPostgresURL(database) {
            throw Failure(
                "\(PostgresOptions.redacted(database)) is a PostgreSQL database; slipwayd backup copies SQLite files. "
                    + "For PostgreSQL use pg_dump -Fc (see Backups in the README)",
                configuration: true)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: database, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw Failure("there is no SQLite database at \(database)", configuration: true)
        }
        let targetURL = URL(fileURLWithPath: target).standardizedFileURL
        if FileManager.default.fileExists(atPath: targetURL.path) {
            throw Failure("\(target) already exists; a backup never overwrites a file: name a new one, or move that one away", configuration: true)
        }
        let directory = targetURL.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure("the directory \(directory) does not exist; create it first", configuration: true)
        }

        let temporary = targetURL.deletingLastPathComponent()
            .appendingPathComponent(".\(targetURL.lastPathComponent).\(UUID().uuidString.prefix(8)).partial").path
        // Created empty here so that it has mode 0600 whatever the umask; SQLite writes into an empty file.
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw Failure("cannot create a file in \(directory): \(String(cString: strerror(errno)))")
        }
        fchmod(descriptor, 0o600)
        close(descriptor)
        var named = false
        defer {
            if !named {
                unlink(temporary)
                unlink(temporary + "-journal")
            }
        }

        do {
            let source = try SQLiteDatabase.opening { try DatabaseQueue(path: database, configuration: readOnly) }
            // One statement, one read transaction: the snapshot of every commit before it began, the
            // write-ahead log included, written as a compact file in rollback-journal mode.
            try SQLiteDatabase.opening { try source.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [temporary]) } }
            try source.close()
        } catch let error as DatabaseError {
            throw Failure("cannot back up \(database): \(error.message ?? "\(error)")")
        }

        // A copy that fails the check is not named; one from a newer Slipway is a copy all the same.
        let report = try inspect(temporary, shownAs: target)
        try sync(temporary)
        // link() refuses to replace a file that appeared meanwhile, where rename() would replace it.
        if link(temporary, targetURL.path) != 0 {
            let reason = errno
            if reason == EEXIST {
                throw Failure("\(target) already exists; a backup never overwrites a file: name a new one, or move that one away", configuration: true)
            }
            // File systems without hard links: rename, having checked just before.
            guard !FileManager.default.fileExists(atPath: targetURL.path), rename(temporary, targetURL.path) == 0 else {
                throw Failure("cannot name the backup \(target): \(String(cString: strerror(reason)))")
            }
        } else {
            unlink(temporary)
        }
        named = true
        try sync(directory)
        return report
    }

    // MARK: - Checking a copy

    /// Checks a backup before it is restored: opens it read-only, runs `PRAGMA integrity_check` and
    /// `PRAGMA foreign_key_check`, compares its migrations with the ones this binary knows and counts the rows of
    /// every table. Throws a ``Failure`` saying what is wrong when the file is missing, is not a SQLite
    /// database, is damaged, or was written by a newer Slipway.
    public static func verify(_ path: String) throws -> Report {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Failure("there is no file at \(path)")
        }
        guard !isDirectory.boolValue else { throw Failure("\(path) is a directory, not a backup file") }
        let report = try inspect(path, shownAs: path)
        switch report.schema {
        case .newer(let unknown):
            throw Failure(
                "\(path) has schema migrations this slipwayd does not know (\(unknown.joined(separator: ", "))): "
                    + "a newer Slipway wrote it; verify and restore it with that version or newer (this one knows up to \(latestMigration))")
        case .notSlipway:
            throw Failure("\(path) is a SQLite database but not a Slipway one: it has no Slipway schema migrations")
        case .current, .older:
            return report
        }
    }

    /// Opens `path` read-only and reports on it; throws when it cannot be read or fails a check.
    static func inspect(_ path: String, shownAs name: String) throws -> Report {
        do {
            let queue = try SQLiteDatabase.opening { try DatabaseQueue(path: path, configuration: readOnly) }
            defer { try? queue.close() }
            typealias Found = (problems: [String], brokenReferences: [String], schema: SchemaState, tables: [(name: String, rows: Int)])
            let (problems, brokenReferences, schema, tables) = try queue.read { db -> Found in
                let problems = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
                guard problems.isEmpty else { return (problems, [String](), SchemaState.notSlipway, [(name: String, rows: Int)]()) }
                let broken = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").map { row -> String in
                    let table: String = row[0]
                    let rowid: Int64? = row[1]
                    let parent: String = row[2]
                    return "a row of \(table) (rowid \(rowid.map(String.init) ?? "?")) refers to a missing row of \(parent)"
                }
                let names = try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations' ORDER BY name")
                let tables = try names.map { name in
                    (name: name, rows: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(name.replacingOccurrences(of: "\"", with: "\"\""))\"") ?? 0)
                }
                return (problems, broken, try schemaState(db), tables)
            }
            guard problems.isEmpty else {
                let shown = problems.prefix(5).joined(separator: "; ") + (problems.count > 5 ? "; and \(problems.count - 5) more" : "")
                throw Failure("\(name) is damaged: integrity_check found \(problems.count) problem\(problems.count == 1 ? "" : "s"): \(shown)")
            }
            guard brokenReferences.isEmpty else {
                let shown = brokenReferences.prefix(5).joined(separator: "; ")
                    + (brokenReferences.count > 5 ? "; and \(brokenReferences.count - 5) more" : "")
                throw Failure("\(name) is damaged: foreign_key_check found \(brokenReferences.count) broken reference\(brokenReferences.count == 1 ? "" : "s"): \(shown)")
            }
            let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            return Report(path: name, bytes: bytes, tables: tables, schema: schema)
        } catch let error as DatabaseError {
            switch error.resultCode {
            case .SQLITE_NOTADB:
                throw Failure("\(name) is not a SQLite database (\(error.message ?? "file is not a database"))")
            case .SQLITE_CORRUPT:
                throw Failure("\(name) is damaged: \(error.message ?? "database disk image is malformed")")
            default:
                throw Failure("cannot read \(name): \(error.message ?? "\(error)")")
            }
        }
    }

    /// Where the schema of `db` stands against the migrations this binary knows.
    static func schemaState(_ db: Database) throws -> SchemaState {
        let known = SQLiteMigrations.migrator.migrations
        let applied = try SQLiteMigrations.migrator.appliedIdentifiers(db)
        guard !applied.isEmpty else { return .notSlipway }
        let unknown = applied.subtracting(known).sorted()
        if !unknown.isEmpty { return .newer(unknown: unknown) }
        let missing = known.filter { !applied.contains($0) }
        if missing.isEmpty { return .current(latest: known.last ?? "none") }
        return .older(latest: known.last { applied.contains($0) }, missing: missing)
    }

    /// A read-only connection: nothing of it writes to the file, and it takes no lock of slipwayd's.
    private static var readOnly: Configuration {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        return configuration
    }

    /// Flushes a file or a directory to disk.
    private static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure("cannot open \(path) to flush it: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw Failure("cannot flush \(path) to disk: \(String(cString: strerror(errno)))") }
    }
}
