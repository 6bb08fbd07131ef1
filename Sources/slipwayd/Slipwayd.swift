import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SlipwayServer
import SlipwayStorage

/// `slipwayd`: the Slipway server (`slipwayd serve`, the default), `slipwayd migrate` to move a SQLite
/// database onto PostgreSQL, and `slipwayd backup` / `slipwayd verify-backup` for copies of a SQLite database.
@main
struct Slipwayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipwayd",
        abstract: "The Slipway control plane: the Omnistrate Image Config API with releases and fleet rollouts.",
        subcommands: [Serve.self, Migrate.self, Backup.self, VerifyBackup.self],
        defaultSubcommand: Serve.self)
}

/// Runs the server. Flags override the `SLIPWAY_*` environment.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server (the default command).",
        discussion: """
            Environment: SLIPWAY_HOSTNAME, SLIPWAY_PORT, SLIPWAY_DATABASE, SLIPWAY_JWT_SECRET (at least 32 bytes), \
            SLIPWAY_ADMIN_EMAIL, SLIPWAY_ADMIN_PASSWORD (the first admin, created on an empty database), \
            SLIPWAY_ALLOW_SIGNUP=true, SLIPWAY_TOKEN_LIFETIME (seconds), SLIPWAY_LOG_LEVEL, SLIPWAY_LOG_FORMAT, \
            SLIPWAY_METRICS_TOKEN (when set, GET /metrics needs it as a bearer token),             SLIPWAY_SECRET_KEY (32 random bytes as base64: the key that seals registry passwords; instead of a key file).
            """)

    @Option(help: "Address to listen on (SLIPWAY_HOSTNAME; default 127.0.0.1).")
    var hostname: String?

    @Option(help: "Port to listen on (SLIPWAY_PORT; default 8080).")
    var port: Int?

    @Option(
        help: """
            SQLite database file, or postgres://user:password@host:port/database (?sslmode=require, pool_size=N) \
            to share one database among replicas (SLIPWAY_DATABASE; default ./slipway.sqlite).
            """)
    var database: String?

    @Option(
        help: """
            File holding the key that seals registry passwords (SLIPWAY_SECRET_KEY_FILE; default: the SQLite database path             plus .key, created with mode 0600 on first start). With PostgreSQL give this or SLIPWAY_SECRET_KEY, the same on every replica.
            """)
    var secretKeyFile: String?

    @Option(help: "Days audit records are kept (SLIPWAY_AUDIT_RETENTION_DAYS; default 365).")
    var auditRetentionDays: Int?

    @Flag(help: "Let anyone create an organization with POST /2022-09-01-00/signup (SLIPWAY_ALLOW_SIGNUP=true).")
    var allowSignup = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (SLIPWAY_LOG_LEVEL; default info).")
    var logLevel: String?

    @Option(help: "Log format: text, or json for one JSON object per line (SLIPWAY_LOG_FORMAT; default text).")
    var logFormat: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = ServerConfiguration()
        configuration.hostname = hostname ?? environment["SLIPWAY_HOSTNAME"] ?? configuration.hostname
        if let port = try port ?? environment["SLIPWAY_PORT"].map(Self.parsePort) { configuration.port = port }
        configuration.database = database ?? environment["SLIPWAY_DATABASE"] ?? configuration.database
        configuration.jwtSecret = environment["SLIPWAY_JWT_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.adminEmail = environment["SLIPWAY_ADMIN_EMAIL"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.adminPassword = environment["SLIPWAY_ADMIN_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        if let days = try auditRetentionDays ?? environment["SLIPWAY_AUDIT_RETENTION_DAYS"].map({ text -> Int in
            guard let days = Int(text) else { throw ValidationError("SLIPWAY_AUDIT_RETENTION_DAYS must be a whole number of days") }
            return days
        }) {
            guard (1...36_500).contains(days) else { throw ValidationError("--audit-retention-days must be from 1 to 36500, got \(days)") }
            configuration.auditRetentionDays = days
        }
        configuration.secretKey = environment["SLIPWAY_SECRET_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.secretKeyFile = secretKeyFile ?? environment["SLIPWAY_SECRET_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.metricsToken = environment["SLIPWAY_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.allowSignup = allowSignup || ["true", "1", "yes"].contains(environment["SLIPWAY_ALLOW_SIGNUP"]?.lowercased() ?? "")
        if let lifetime = environment["SLIPWAY_TOKEN_LIFETIME"] {
            guard let seconds = TimeInterval(lifetime), seconds >= 60, seconds <= ServerConfiguration.maximumTokenLifetime else {
                throw ValidationError(
                    "SLIPWAY_TOKEN_LIFETIME must be a number of seconds from 60 to \(Int(ServerConfiguration.maximumTokenLifetime))")
            }
            configuration.tokenLifetime = seconds
        }
        let logger = try makeLogger(level: logLevel, format: logFormat, environment: environment)
        do {
            let app = try await buildApplication(configuration, logger: logger)
            // Runs until SIGTERM or SIGINT, then finishes in-flight requests before exiting.
            try await app.runService()
        } catch let error as ConfigurationError {
            logger.critical("cannot start: \(error.description)")
            throw ExitCode(78)  // EX_CONFIG
        }
    }

    static func parsePort(_ text: String) throws -> Int {
        guard let port = Int(text), (0...65535).contains(port) else { throw ValidationError("SLIPWAY_PORT must be a port number, got '\(text)'") }
        return port
    }
}

/// Copies a SQLite database into an empty PostgreSQL database.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a whole SQLite database into an empty PostgreSQL database.",
        discussion: """
            Stop the slipwayd that uses the SQLite file first (the copy refuses a file in use). Everything moves in \
            one PostgreSQL transaction: users and their sessions, the signing secret, the catalog, tier versions, \
            instances with their agent tokens, and rollouts; the row count of every table is checked afterwards. \
            Then start slipwayd with --database set to the PostgreSQL URL.
            """)

    @Option(help: "The SQLite database file to copy.")
    var from: String

    @Option(help: "The PostgreSQL database to copy into: postgres://user:password@host:port/database; it must be empty.")
    var to: String

    func run() async throws {
        let logger = try makeLogger(level: "warning", format: nil, environment: [:])
        guard PostgresOptions.isPostgresURL(to) else {
            throw ValidationError("--to must be a postgres:// URL, got '\(PostgresOptions.redacted(to))'")
        }
        do {
            let report = try await DatabaseCopy.copy(fromSQLite: from, toPostgres: to, logger: logger)
            for (table, count) in report.rows { print("\(table): \(count) rows") }
            print("copied \(from) into \(PostgresOptions.redacted(to)); start slipwayd with --database set to that URL")
        } catch let error as StoreOpeningError {
            FileHandle.standardError.write(Data("slipwayd migrate: \(error.description)\n".utf8))
            throw ExitCode(78)
        }
    }
}

/// Copies a SQLite database, while slipwayd runs on it, into a new file.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a SQLite database into a new file, while slipwayd runs on it.",
        discussion: """
            The copy is one consistent snapshot: every transaction committed before it began, the write-ahead log \
            included. It only reads the database (a running slipwayd goes on serving), writes a temporary file \
            beside FILE, checks it with integrity_check, flushes it to disk and only then names it FILE, with mode \
            0600. It never overwrites a file. Keep <database>.key with the copy: it seals registry passwords and is \
            not in the database. For PostgreSQL use pg_dump -Fc (see Backups in the README). Exit status 78 when the \
            database or FILE is not usable as given, 1 when the copy fails.
            """)

    @Option(help: "The SQLite database file to copy (SLIPWAY_DATABASE; default ./slipway.sqlite).")
    var database: String?

    @Option(name: .customLong("to"), help: "The new file to write; it must not exist.")
    var file: String

    func run() async throws {
        let database = database ?? ProcessInfo.processInfo.environment["SLIPWAY_DATABASE"].flatMap { $0.isEmpty ? nil : $0 } ?? "./slipway.sqlite"
        let report: SQLiteBackup.Report
        do {
            report = try SQLiteBackup.backUp(database: database, to: file)
        } catch let error as SQLiteBackup.Failure {
            FileHandle.standardError.write(Data("slipwayd backup: \(error.description)\n".utf8))
            throw ExitCode(error.isConfiguration ? 78 : 1)
        }
        print("backed up \(database) to \(report.path): \(report.bytes) bytes, mode 0600, integrity ok")
        printSchemaAndTables(report)
        let keyFile = database + ".key"
        if FileManager.default.fileExists(atPath: keyFile) {
            print("keep \(keyFile) with this backup: it seals registry passwords and is not in the database")
        }
    }
}

/// Checks a backup of a SQLite database before it is restored.
struct VerifyBackup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-backup",
        abstract: "Check a backup of a SQLite database before restoring it.",
        discussion: """
            Opens FILE read-only, runs integrity_check and foreign_key_check, compares its schema migrations with \
            the ones this slipwayd knows and counts the rows of every table. Exit status 0 when FILE is a good \
            backup this slipwayd can serve; 1, with the reason, when it is missing, not a SQLite database, damaged, \
            or written by a newer Slipway.
            """)

    @Argument(help: "The backup file to check.")
    var file: String

    func run() async throws {
        let report: SQLiteBackup.Report
        do {
            report = try SQLiteBackup.verify(file)
        } catch let error as SQLiteBackup.Failure {
            FileHandle.standardError.write(Data("slipwayd verify-backup: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        print("\(file): \(report.bytes) bytes, integrity ok, foreign keys ok")
        printSchemaAndTables(report)
        print("\(file) is a good backup")
    }
}

/// The schema version and the rows of each table of a backup.
func printSchemaAndTables(_ report: SQLiteBackup.Report) {
    switch report.schema {
    case .current(let latest):
        print("schema: \(latest), the latest this slipwayd knows")
    case .older(let latest, let missing):
        print(
            "schema: \(latest ?? "none"), older than this slipwayd (\(SQLiteBackup.latestMigration)); "
                + "a slipwayd that opens it migrates it (\(missing.joined(separator: ", ")))")
    case .newer(let unknown):
        print("schema: newer than this slipwayd (\(unknown.joined(separator: ", "))); restore it with that Slipway or newer")
    case .notSlipway:
        print("schema: none (not a Slipway database)")
    }
    for table in report.tables { print("\(table.name): \(table.rows) rows") }
}

/// The process's logger, bootstrapped in the chosen format.
func makeLogger(level: String?, format: String?, environment: [String: String]) throws -> Logger {
    let levelName = level ?? environment["SLIPWAY_LOG_LEVEL"] ?? "info"
    guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
        throw ValidationError("log level must be one of trace, debug, info, notice, warning, error, critical")
    }
    switch (format ?? environment["SLIPWAY_LOG_FORMAT"] ?? "text").lowercased() {
    case "text": break
    case "json": LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
    case let other: throw ValidationError("log format must be text or json, got '\(other)'")
    }
    var logger = Logger(label: "slipwayd")
    logger.logLevel = level
    return logger
}
