import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import SlipwayCore
import SlipwayRegistry
import SlipwayEngine
import ServiceLifecycle
import SlipwayStorage

/// Builds the whole server: storage, accounts, routes and middleware. `slipwayd` and the tests both start here.
public func buildApplication(_ configuration: ServerConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    let store = try await openStore(configuration.database, logger: logger)
    store.setQuotas(configuration.quotas)
    let secrets: SecretBox
    let keys: SigningKeyring
    do {
        keys = try await signingKeys(configuration, logger: logger)
        secrets = try SecretKeyLoader.load(configuration, logger: logger)
    } catch {
        await store.close()
        throw error
    }
    let tokens = TokenIssuer(keys: keys, accessLifetime: configuration.tokenLifetime, clock: configuration.clock)
    try await sealCleartextPasswords(store, with: secrets, logger: logger)
    let accounts = Accounts(
        store: store, tokens: tokens, hasher: PasswordHasher(rounds: configuration.passwordRounds),
        passwordWork: PasswordWork(concurrency: configuration.passwordHashingConcurrency, maxWaiting: configuration.passwordHashingQueue),
        abuse: AbuseGuard(limits: configuration.abuseLimits, clock: configuration.clock))
    try await accounts.bootstrap(adminEmail: configuration.adminEmail, adminPassword: configuration.adminPassword, logger: logger)

    let notifier = DesiredStateNotifier()
    let engine = RolloutEngine(store: store, notifier: notifier, clock: configuration.clock, logger: logger)
    let checks = ImageChecks(registries: RegistryClient(timeout: configuration.registryTimeout), secrets: secrets)
    let router = buildRouter(
        openAPI: try OpenAPIDocument.load(), console: try WebConsole.load(), store: store, accounts: accounts, engine: engine, notifier: notifier, checks: checks,
        allowSignup: configuration.allowSignup, maxWaitingReports: configuration.maxWaitingReports, agentsPresentCertificates: configuration.tls?.agentCA != nil, metrics: MetricsAccess(configuration),
        webhookAllowPrivate: configuration.webhookAllowPrivate, clock: configuration.clock, logger: logger)
    let egress = Egress(allowPrivate: configuration.webhookAllowPrivate)
    let webhooks = WebhookSender(store: store, secrets: secrets, clock: configuration.clock, egress: egress, logger: logger)
    let analysis = AnalysisRunner(store: store, engine: engine, clock: configuration.clock, egress: egress, logger: logger)
    // Every open connection is a file descriptor; running out of them makes the runtime itself trap. Past this
    // many connections, new ones wait in the listen backlog instead.
    let maxConnections = ConnectionBudget.maxConnections(logger: logger)
    if case .closed = MetricsAccess(configuration) {
        logger.notice(
            "GET /metrics is closed while slipwayd listens on \(configuration.hostname) (its counts span every organization); set SLIPWAY_METRICS_TOKEN to scrape it with a bearer token")
    }
    return Application(
        router: router,
        server: try Transport.serverBuilder(configuration, counts: ConnectionCounts(), logger: logger),
        configuration: .init(
            address: .hostname(configuration.hostname, port: configuration.port), serverName: "slipwayd", backlog: 4096,
            availableConnectionsDelegate: MaximumAvailableConnections(maxConnections)),
        // Shut down in reverse: the HTTP server, then the relay and the engine, then the store (which hands
        // the engine's lease to another replica at once).
        services: [
            StoreCloser(store: store), egress, engine, webhooks, analysis, FleetSignalRelay(store: store, notifier: notifier, engine: engine),
            AuditRetention(store: store, clock: configuration.clock, retentionDays: configuration.auditRetentionDays),
        ],
        logger: logger)
}

/// The routes: health, metrics and the spec, the public sign-in routes, and everything else behind a bearer token.
func buildRouter(
    openAPI: String, console: WebConsole, store: any SlipwayStore & FleetStore & WebhookStore, accounts: Accounts, engine: RolloutEngine,
    notifier: DesiredStateNotifier, checks: ImageChecks, allowSignup: Bool, maxWaitingReports: Int = 20_000, agentsPresentCertificates: Bool = false,
    metrics metricsAccess: MetricsAccess, webhookAllowPrivate: Bool = false, clock: SlipwayClock, logger: Logger
) -> Router<SlipwayRequestContext> {
    let router = Router(context: SlipwayRequestContext.self)
    let metrics = ServerMetrics(fleet: store, notifier: notifier, engine: engine)
    router.add(middleware: APIErrorMiddleware(logger: logger, metrics: metrics))
    router.get("healthz") { _, _ in
        _ = try await store.hasOrganizations()
        return try JSONBody.response(["status": "ok"])
    }
    router.get("metrics") { request, _ in
        switch metricsAccess {
        case .open: break
        case .token(let metricsToken):
            guard case .token(let token) = request.bearer, constantTimeEqual(OpaqueToken.hash(token), OpaqueToken.hash(metricsToken)) else {
                throw SlipwayError.authFailure("GET /metrics needs 'Authorization: Bearer <token>' with the token in SLIPWAY_METRICS_TOKEN")
            }
        case .closed:
            throw SlipwayError.forbidden(
                "GET /metrics is closed while slipwayd listens beyond loopback; set SLIPWAY_METRICS_TOKEN and scrape with 'Authorization: Bearer <token>'")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: try await metrics.scrape()))
    }
    console.addRoutes(to: router)
    let openAPIBytes = ByteBuffer(string: openAPI)
    router.get("openapi.yaml") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: openAPIBytes))
    }

    let api = router.group("2022-09-01-00")
    let auth = AuthController(accounts: accounts, allowSignup: allowSignup)
    auth.addPublicRoutes(to: api.group().add(middleware: AuditMiddleware(store: store, clock: clock)))
    let secured = api.group().add(middleware: BearerAuthMiddleware(tokens: accounts.tokens, users: UserStates(store: store)))
        .add(middleware: AuditMiddleware(store: store, clock: clock))
    auth.addRoutes(to: secured)
    AuditController(store: store).addRoutes(to: secured)
    ServiceController(store: store, clock: clock).addRoutes(to: secured)
    ImageRegistryController(store: store, clock: clock, secrets: checks.secrets).addRoutes(to: secured)
    ImageConfigController(store: store, clock: clock, checks: checks, answers: CatalogResponseCache(store: store, metrics: metrics)).addRoutes(to: secured)
    VersionSetController(store: store).addRoutes(to: secured)
    InstanceController(store: store, fleet: store, clock: clock).addRoutes(to: secured)
    RolloutController(fleet: store, engine: engine, clock: clock, analysisAllowPrivate: webhookAllowPrivate).addRoutes(to: secured)
    WebhookController(store: store, clock: clock, secrets: checks.secrets, allowPrivate: webhookAllowPrivate).addRoutes(to: secured)
    AgentController(
        fleet: store, notifier: notifier, engine: engine, reports: ReportBatcher(store: store, clock: clock, maxWaiting: maxWaitingReports), metrics: metrics,
        requireClientCertificate: agentsPresentCertificates
    ).addRoutes(to: router)
    // Last, so that it wraps only the not-found answer: 405 with Allow for a method the path does not have.
    router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
    return router
}

/// The store the `database` setting names: a `postgres://` URL, or a SQLite file path.
func openStore(_ database: String, logger: Logger) async throws -> SQLStore {
    if PostgresOptions.isPostgresURL(database) {
        do {
            return try await SQLStore.openPostgres(url: database, logger: logger)
        } catch let error as StoreOpeningError {
            throw ConfigurationError(error.description)
        }
    }
    do {
        return try SQLStore(sqlitePath: database)
    } catch let error as StoreOpeningError {
        throw ConfigurationError(error.description)
    } catch {
        throw ConfigurationError("cannot open the SQLite database at \(database): \(error)")
    }
}

/// Seals registry passwords that an older Slipway stored in the clear, and checks that the sealed ones open
/// with this key (a wrong key is a configuration error, found at start rather than at the next release).
func sealCleartextPasswords(_ store: SQLStore, with secrets: SecretBox, logger: Logger) async throws {
    let sealed = try await store.resealRegistryPasswords { registryId, stored in
        guard SecretBox.isSealed(stored) else { return try secrets.seal(stored, for: registryId) }
        do {
            _ = try secrets.open(stored, for: registryId)
        } catch let error as SecretBoxError {
            logger.error("\(error.description)")
        }
        return nil
    }
    if sealed > 0 { logger.notice("sealed \(sealed) registry password(s) that were stored in the clear") }
}

/// Closes the store once everything that uses it has stopped.
struct StoreCloser: ServiceLifecycle.Service {
    let store: SQLStore

    func run() async throws {
        try? await gracefulShutdown()
        // Bounded: a connection that broke without saying so must not keep the process from exiting.
        let closed = Echo()
        Task {
            await store.close()
            closed.signal()
        }
        Task {
            try? await Task.sleep(for: .seconds(3))
            closed.signal()
        }
        await closed.wait()
    }
}

/// The keys that sign bearer tokens, never kept in the database: `SLIPWAY_JWT_SECRET`, else the key file
/// (`--jwt-key-file`, by default beside a SQLite database), created with one key and mode 0600 on first start.
/// PostgreSQL replicas must all verify each other's tokens, so there one of the two must be given.
func signingKeys(_ configuration: ServerConfiguration, logger: Logger) async throws -> SigningKeyring {
    if let secret = configuration.jwtSecret {
        guard secret.utf8.count >= 32 else { throw ConfigurationError("SLIPWAY_JWT_SECRET must be at least 32 bytes long") }
        return try await SigningKeyring(.fixed([SigningKeyFile.key(fromSecret: secret)]))
    }
    let path: String
    if let file = configuration.jwtKeyFile {
        path = file
    } else if PostgresOptions.isPostgresURL(configuration.database) {
        throw ConfigurationError(
            "with PostgreSQL, give the key that signs access tokens (the same on every replica): set SLIPWAY_JWT_SECRET "
                + "(at least 32 random bytes, e.g. from `openssl rand -base64 32`) or pass --jwt-key-file FILE "
                + "(made by `slipwayd rotate-jwt-key --jwt-key-file FILE`)")
    } else {
        path = configuration.database + ".jwt-keys"
    }
    do {
        let (_, created) = try SigningKeyFile.readOrCreate(path, now: configuration.clock.now())
        if created {
            logger.notice("created the token signing key file \(path) (mode 0600); rotate it with `slipwayd rotate-jwt-key`")
        } else if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
            logger.warning("the token signing key file \(path) is readable by other users (mode \(String(mode, radix: 8))); chmod 600 it")
        }
        return try await SigningKeyring(.file(path))
    } catch let failure as SigningKeyFile.Failure {
        throw ConfigurationError(failure.description)
    }
}

/// How many connections the process can hold: the file descriptor limit, raised to its hard maximum, less a
/// reserve for the database, the logs and the runtime.
enum ConnectionBudget {
    static let reserve = 512

    static func maxConnections(logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        let connections = max(64, Int(min(limit.rlim_cur, 1 << 24)) - reserve)
        logger.info("accepting up to \(connections) connections at once", metadata: ["fileDescriptorLimit": "\(limit.rlim_cur)"])
        return connections
    }
}

/// Compares two equally long strings (digests of secrets) in time that does not depend on where they differ.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
}

/// Who may read `GET /metrics`: its counts span every organization, so it is for the operator alone.
enum MetricsAccess: Sendable {
    /// Anyone who reaches the port: the server listens on loopback only.
    case open
    /// Only `Authorization: Bearer <token>` (`SLIPWAY_METRICS_TOKEN`).
    case token(String)
    /// Nobody: the server listens beyond loopback and no token was set.
    case closed

    init(_ configuration: ServerConfiguration) {
        if let token = configuration.metricsToken {
            self = .token(token)
        } else {
            self = configuration.listensOnLoopbackOnly ? .open : .closed
        }
    }
}
