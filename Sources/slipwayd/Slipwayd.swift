import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SlipwayCore
import SlipwayServer
import SlipwayStorage

/// `slipwayd`: the Slipway server (`slipwayd serve`, the default), `slipwayd migrate` to move a SQLite
/// database onto PostgreSQL, and `slipwayd backup` / `slipwayd verify-backup` for copies of a SQLite database.
@main
struct Slipwayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipwayd",
        abstract: "The Slipway control plane: the Omnistrate Image Config API with releases and fleet rollouts.",
        subcommands: [Serve.self, Migrate.self, Backup.self, VerifyBackup.self, RotateJWTKey.self],
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
            SLIPWAY_METRICS_TOKEN (when set, GET /metrics needs it as a bearer token), SLIPWAY_SECRET_KEY (32 random \
            bytes as base64: the key that seals registry passwords; instead of a key file).

            Abuse limits (per client address, per replica; a rate is N/second, N/minute or N/hour, or off): \
            --sign-in-rate (SLIPWAY_SIGN_IN_RATE, default 30/minute), --sign-up-rate (SLIPWAY_SIGN_UP_RATE, default \
            5/hour), --refresh-rate (SLIPWAY_REFRESH_RATE, default 120/minute). Past its rate a request gets 429 with \
            Retry-After. Failed sign-ins to one account from one address wait 1 s after the 5th, doubling up to \
            15 minutes; failed sign-ins to one account from addresses it never signed in from share 50/hour. \
            Password hashing runs half the cores at once with --password-queue (SLIPWAY_PASSWORD_QUEUE, default 64) \
            waiting; past that, 503.
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
            File holding the key that seals registry passwords (SLIPWAY_SECRET_KEY_FILE; default: the SQLite database path \
            plus .key, created with mode 0600 on first start). With PostgreSQL give this or SLIPWAY_SECRET_KEY, the same on \
            every replica.
            """)
    var secretKeyFile: String?

    @Option(
        help: """
            File of the keys that sign access tokens (SLIPWAY_JWT_KEY_FILE; default: the SQLite database path plus \
            .jwt-keys, created with mode 0600 on first start). With PostgreSQL give this or SLIPWAY_JWT_SECRET, the same on every replica.
            """)
    var jwtKeyFile: String?

    @Option(help: "Days audit records are kept (SLIPWAY_AUDIT_RETENTION_DAYS; default 365).")
    var auditRetentionDays: Int?

    @Option(help: "Sign-ins per client address, e.g. 30/minute, or off (SLIPWAY_SIGN_IN_RATE).")
    var signInRate: String?

    @Option(help: "Sign-ups per client address, e.g. 5/hour, or off (SLIPWAY_SIGN_UP_RATE).")
    var signUpRate: String?

    @Option(help: "Token refreshes per client address, e.g. 120/minute, or off (SLIPWAY_REFRESH_RATE).")
    var refreshRate: String?

    @Option(help: "Password checks that may wait for a core before sign-ins get 503 (SLIPWAY_PASSWORD_QUEUE; default 64).")
    var passwordQueue: Int?

    @Option(help: "Seconds a connection may sit without a request before it is closed (SLIPWAY_IDLE_TIMEOUT; default 75).")
    var idleTimeout: Int?

    @Option(help: "Seconds reading one request may take, first byte to end of body (SLIPWAY_REQUEST_READ_TIMEOUT; default 30).")
    var requestReadTimeout: Int?

    @Option(help: "Connections one client address may hold at once (SLIPWAY_MAX_CONNECTIONS_PER_ADDRESS; default 1024).")
    var maxConnectionsPerAddress: Int?

    @Option(help: "PEM certificate chain: serve HTTPS, with HTTP/2 for clients that offer it (SLIPWAY_TLS_CERT; needs --tls-key).")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert (SLIPWAY_TLS_KEY).")
    var tlsKey: String?

    @Option(help: "PEM CA certificate(s): agents must present a client certificate it signed (SLIPWAY_AGENT_CA; needs --tls-cert).")
    var agentCa: String?

    @Option(
        name: .customLong("quota"),
        help: """
            What each organization may hold, NAME=N, repeatable or comma-separated: services (default 1000), image-configs \
            (10000), instances (100000), image-registries (100), live-rollouts (500) (SLIPWAY_QUOTAS).
            """)
    var quotas: [String] = []

    @Flag(help: "Let anyone create an organization with POST /2022-09-01-00/signup (SLIPWAY_ALLOW_SIGNUP=true).")
    var allowSignup = false

    @Flag(help: "Let webhooks reach loopback, private and link-local addresses (SLIPWAY_WEBHOOK_ALLOW_PRIVATE=true).")
    var webhookAllowPrivate = false

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
        configuration.jwtKeyFile = jwtKeyFile ?? environment["SLIPWAY_JWT_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.secretKeyFile = secretKeyFile ?? environment["SLIPWAY_SECRET_KEY_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.metricsToken = environment["SLIPWAY_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.allowSignup = allowSignup || ["true", "1", "yes"].contains(environment["SLIPWAY_ALLOW_SIGNUP"]?.lowercased() ?? "")
        configuration.webhookAllowPrivate =
            webhookAllowPrivate || ["true", "1", "yes"].contains(environment["SLIPWAY_WEBHOOK_ALLOW_PRIVATE"]?.lowercased() ?? "")
        if let lifetime = environment["SLIPWAY_TOKEN_LIFETIME"] {
            guard let seconds = TimeInterval(lifetime), seconds >= 60, seconds <= ServerConfiguration.maximumTokenLifetime else {
                throw ValidationError(
                    "SLIPWAY_TOKEN_LIFETIME must be a number of seconds from 60 to \(Int(ServerConfiguration.maximumTokenLifetime))")
            }
            configuration.tokenLifetime = seconds
        }
        configuration.abuseLimits.signInPerAddress = try Self.rate(
            signInRate, environment["SLIPWAY_SIGN_IN_RATE"], "--sign-in-rate", default: configuration.abuseLimits.signInPerAddress)
        configuration.abuseLimits.signUpPerAddress = try Self.rate(
            signUpRate, environment["SLIPWAY_SIGN_UP_RATE"], "--sign-up-rate", default: configuration.abuseLimits.signUpPerAddress)
        configuration.abuseLimits.refreshPerAddress = try Self.rate(
            refreshRate, environment["SLIPWAY_REFRESH_RATE"], "--refresh-rate", default: configuration.abuseLimits.refreshPerAddress)
        if let queue = try Self.number(passwordQueue, environment["SLIPWAY_PASSWORD_QUEUE"], "--password-queue", 0...100_000) {
            configuration.passwordHashingQueue = queue
        }
        if let seconds = try Self.number(idleTimeout, environment["SLIPWAY_IDLE_TIMEOUT"], "--idle-timeout", 1...3600) {
            configuration.idleTimeout = .seconds(seconds)
        }
        if let seconds = try Self.number(requestReadTimeout, environment["SLIPWAY_REQUEST_READ_TIMEOUT"], "--request-read-timeout", 1...3600) {
            configuration.requestReadTimeout = .seconds(seconds)
        }
        if let count = try Self.number(
            maxConnectionsPerAddress, environment["SLIPWAY_MAX_CONNECTIONS_PER_ADDRESS"], "--max-connections-per-address", 1...10_000_000)
        {
            configuration.maxConnectionsPerAddress = count
        }
        let quotaText = quotas.isEmpty ? environment["SLIPWAY_QUOTAS"] ?? "" : quotas.joined(separator: ",")
        do {
            configuration.quotas = try OrganizationQuotas(parsing: quotaText)
        } catch let error as SlipwayError {
            throw ValidationError("--quota: \(error.message)")
        }
        let given = { (flag: String?, variable: String) in flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 } }
        switch (given(tlsCert, "SLIPWAY_TLS_CERT"), given(tlsKey, "SLIPWAY_TLS_KEY"), given(agentCa, "SLIPWAY_AGENT_CA")) {
        case (nil, nil, nil): break
        case (let cert?, let key?, let agentCA): configuration.tls = TLSFiles(certificateChain: cert, privateKey: key, agentCA: agentCA)
        case (nil, _, _): throw ValidationError("--tls-key and --agent-ca need --tls-cert: the server must serve HTTPS")
        case (_, nil, _): throw ValidationError("--tls-cert needs --tls-key, the certificate's private key")
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

    /// A whole number from its flag, else its environment variable, within `range`.
    static func number(_ flag: Int?, _ variable: String?, _ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let value = try flag ?? variable.flatMap({ $0.isEmpty ? nil : $0 }).map({ text -> Int in
            guard let value = Int(text) else { throw ValidationError("\(name) must be a whole number, got '\(text)'") }
            return value
        }) else { return nil }
        guard range.contains(value) else { throw ValidationError("\(name) must be from \(range.lowerBound) to \(range.upperBound), got \(value)") }
        return value
    }

    /// A rate from its flag, else its environment variable, else the default.
    static func rate(_ flag: String?, _ variable: String?, _ name: String, default fallback: RateLimit) throws -> RateLimit {
        guard let text = flag ?? variable.flatMap({ $0.isEmpty ? nil : $0 }) else { return fallback }
        guard let rate = RateLimit(parsing: text) else {
            throw ValidationError("\(name) must be N/second, N/minute or N/hour (N from 1 to 1000000), or off; got '\(text)'")
        }
        return rate
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
            one PostgreSQL transaction: users and their sessions, the catalog, tier versions, \
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

/// Adds a new token signing key; the old ones verify until the tokens they signed have expired.
struct RotateJWTKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-jwt-key",
        abstract: "Add a new key that signs access tokens; older keys still verify until their tokens expire.",
        discussion: """
            Appends a new random key to the key file (creating the file, mode 0600, if there is none) and drops keys \
            retired longer ago than the longest token lifetime (24 hours), whose tokens have all expired. A running \
            slipwayd reads the file again within a second: it signs with the new key and still accepts tokens signed \
            with the old ones. With replicas, copy the file to every replica at once. Prints the new key's id.
            """)

    @Option(help: "The key file (SLIPWAY_JWT_KEY_FILE; default: the SQLite database path plus .jwt-keys).")
    var jwtKeyFile: String?

    @Option(help: "The SQLite database whose key file to rotate (SLIPWAY_DATABASE; default ./slipway.sqlite).")
    var database: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let variable = { (name: String) in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let database = database ?? variable("SLIPWAY_DATABASE") ?? "./slipway.sqlite"
        guard let path = jwtKeyFile ?? variable("SLIPWAY_JWT_KEY_FILE") ?? (PostgresOptions.isPostgresURL(database) ? nil : database + ".jwt-keys") else {
            throw ValidationError("with PostgreSQL there is no default key file: pass --jwt-key-file FILE")
        }
        do {
            if !FileManager.default.fileExists(atPath: path) {
                let (keys, _) = try SigningKeyFile.readOrCreate(path, now: Date())
                print("created \(path) with key \(keys[0].kid)")
                return
            }
            let (added, dropped) = try SigningKeyFile.rotate(path, now: Date(), tokenLifetime: ServerConfiguration.maximumTokenLifetime)
            print("added key \(added.kid) to \(path); it signs from now on")
            for key in dropped { print("dropped key \(key.kid): every token it signed has expired") }
        } catch let failure as SigningKeyFile.Failure {
            FileHandle.standardError.write(Data("slipwayd rotate-jwt-key: \(failure.description)\n".utf8))
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
            0600. It never overwrites a file. Keep <database>.key and <database>.jwt-keys with the copy: they seal \
            registry passwords and sign access tokens, and are not in the database. For PostgreSQL use pg_dump -Fc (see Backups in the README). Exit status 78 when the \
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
        for (suffix, purpose) in [(".key", "seals registry passwords"), (".jwt-keys", "signs access tokens")] {
            let keyFile = database + suffix
            if FileManager.default.fileExists(atPath: keyFile) {
                print("keep \(keyFile) with this backup: it \(purpose) and is not in the database")
            }
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
