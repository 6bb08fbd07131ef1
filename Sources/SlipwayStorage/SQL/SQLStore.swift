import Foundation
import SlipwayCore
import Synchronization

/// How many instance rows of a rollout's plan one transaction writes (a larger plan is written PLANNING, a
/// chunk at a time), and who hears of each chunk: tests act there while a plan is half-written.
public struct PlanChunking: Sendable {
    /// About 50 ms of writing on SQLite (`slipway-bench register --plan-rollout`): the longest another write waits.
    public var rowsPerTransaction = 1024
    public var afterEachChunk: (@Sendable (_ rolloutId: String, _ rowsWritten: Int) async throws -> Void)?

    public init() {}
}

/// The store: every query, check and message, once, over SQL that SQLite and PostgreSQL both run. The
/// database it runs on (``SQLDatabase``) opens transactions and binds, runs and decodes the statements.
public final class SQLStore: SlipwayStore {
    let database: any SQLDatabase
    /// The images of released tier versions, by "tier|version": immutable once released.
    let releasedImages = Mutex<[String: [ImageConfigSnapshot]]>([:])
    /// Instances' tiers and the tier versions that exist, for agents' reports.
    let knownFacts = KnownFacts()
    /// Agent tokens and desired generations, kept in memory for the agent routes.
    let agents: AgentDirectory

    let catalogWrites: CatalogRevision
    /// Set when other processes share the database (PostgreSQL replicas).
    let replication: Replication?
    /// What each organization may hold; checked in the transaction that adds, so replicas cannot overshoot.
    let quotas = Mutex(OrganizationQuotas())
    let usageBounds = Mutex(QuotaUsageBounds())
    let sharedBounds = Mutex(SharedQuotaBounds())

    /// How a rollout's plan is written; see ``PlanChunking``.
    public let planChunking = Mutex(PlanChunking())
    /// The PLANNING rollouts this process is writing: never abandoned, whatever their age.
    let plansBeingWritten = Mutex<Set<String>>([])

    public func setQuotas(_ quotas: OrganizationQuotas) {
        self.quotas.withLock { $0 = quotas }
    }

    /// Throws 409 when `organizationId` already holds its quota of `resource` (in the caller's transaction).
    /// As the only writer of its database, the store counts only when its bound on what is held reaches the quota.
    /// Refuses (409) to add one more of `resource` beyond the organization's quota. Call it in the adding transaction;
    /// on a shared database, give that transaction ``quotaReading(_:organizationId:)`` to read first.
    ///
    /// Instances and image configs grow large, and counting them on every add costs time in proportion to what
    /// is held, so they are bounded instead while far from the quota:
    /// - SQLite (the only writer): ``QuotaUsageBounds``.
    /// - PostgreSQL: ``SharedQuotaBounds``, from the shared sequence `quota_adds` read just before the
    ///   transaction. Counting inside the serializable transaction would also make every two adds of one
    ///   organization conflict (each reads the rows the other inserts), so they would take turns. Each add that
    ///   counts first moves the organization's row in `quota_gates`, which adds admitted by the bound read in
    ///   their transactions: one that overlaps a count then conflicts with it, and one that began after a count
    ///   committed sees the gate moved since its reading and counts too.
    /// The other resources are few and always counted.
    func checkQuota(_ resource: OrganizationQuotas.Resource, organizationId: String, _ db: any SQLSession) throws {
        let quotas = self.quotas.withLock { $0 }
        let bounded = QuotaUsageBounds.tracks(resource)
        guard replication != nil, bounded else {
            if bounded, usageBounds.withLock({ $0.admitWithoutCounting(resource, organizationId: organizationId, limit: quotas[resource]) }) { return }
            let held = try db.cachedValue(Int.self, sql: Self.quotaCountSQL(resource), arguments: [organizationId]) ?? 0
            try quotas.checkRoom(for: resource, held: held)
            if bounded { usageBounds.withLock { $0.counted(resource, organizationId: organizationId, held: held) } }
            return
        }
        let first = try db.rowReadFirst()
        let addsBefore = first.flatMap { Int64.decode($0.value("adds")) }
        let gateBefore = first.flatMap { Int64.decode($0.value("gate")) }
        if let addsBefore, let connections = first.flatMap({ Int.decode($0.value("connections")) }),
            sharedBounds.withLock({
                $0.admitsWithoutCounting(
                    resource, organizationId: organizationId, addsNow: addsBefore, concurrentWriters: connections, limit: quotas[resource])
            })
        {
            let gate = try db.cachedValue(Int64.self, sql: """
                    SELECT (SELECT generation FROM quota_gates WHERE organization_id = ? AND resource = ?) AS gate, nextval('quota_adds')
                    """,
                arguments: [organizationId, resource.rawValue])
            if gate == gateBefore { return }
        }
        try db.cachedExecute(sql: """
                INSERT INTO quota_gates (organization_id, resource, generation) VALUES (?, ?, 1)
                ON CONFLICT (organization_id, resource) DO UPDATE SET generation = quota_gates.generation + 1
                """,
            arguments: [organizationId, resource.rawValue])
        let held = try db.cachedValue(Int.self, sql: "SELECT (\(Self.quotaCountSQL(resource))) AS held, nextval('quota_adds')",
            arguments: [organizationId]) ?? 0
        if let addsBefore { sharedBounds.withLock { $0.counted(resource, organizationId: organizationId, held: held, addsBefore: addsBefore) } }
        try quotas.checkRoom(for: resource, held: held)
    }

    /// What a transaction adding a bounded resource reads first on a shared database, outside the transaction:
    /// the shared sequence of adds, the organization's quota gate, and how many connections PostgreSQL allows
    /// (the most adds that can be open at once). Nil where it is not needed.
    func quotaReading(_ resource: OrganizationQuotas.Resource, organizationId: String) -> SQLStatement? {
        guard replication != nil, QuotaUsageBounds.tracks(resource) else { return nil }
        return SQLStatement(
            sql: """
                SELECT last_value AS adds,
                    (SELECT generation FROM quota_gates WHERE organization_id = ? AND resource = ?) AS gate,
                    current_setting('max_connections')::int AS connections
                FROM quota_adds
                """,
            arguments: [.text(organizationId), .text(resource.rawValue)])
    }

    /// Counts what an organization (the one placeholder) holds of `resource`.
    static func quotaCountSQL(_ resource: OrganizationQuotas.Resource) -> String {
        switch resource {
        case .services: "SELECT COUNT(*) FROM services WHERE organization_id = ?"
        case .imageRegistries: "SELECT COUNT(*) FROM image_registries WHERE organization_id = ?"
        case .instances: "SELECT COUNT(*) FROM instances WHERE organization_id = ?"
        case .imageConfigs: "SELECT COUNT(*) FROM image_configs WHERE service_id IN (SELECT id FROM services WHERE organization_id = ?)"
        case .liveRollouts: "SELECT COUNT(*) FROM rollouts WHERE organization_id = ? AND status IN \(liveOrPlanningStatuses)"
        }
    }

    /// Moves on this process's catalog writes and, on a shared database, on other processes': first it
    /// catches up with every write they acknowledged before the call. When that cannot be known, it moves on
    /// every call, so nothing cached is trusted.
    public func catalogRevision() async -> UInt64 {
        guard await cachesCurrent() else { return catalogWrites.move() }
        return catalogWrites.value
    }

    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up to date.
    public convenience init(sqlitePath path: String) throws {
        let agents = AgentDirectory()
        self.init(database: try SQLiteDatabase(path: path, agents: agents), agents: agents)
    }

    /// The store on `database`, which must report the instances each commit changes or deletes to `agents`
    /// (and, when shared, other processes' changes through `replication`).
    init(database: any SQLDatabase, agents: AgentDirectory, catalogWrites: CatalogRevision = CatalogRevision(), replication: Replication? = nil) {
        self.database = database
        self.agents = agents
        self.catalogWrites = catalogWrites
        self.replication = replication
    }

    /// A read transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await database.read(body)
    }

    /// A write transaction. Other replicas hear of it through the triggers' notifications; their cached
    /// answers wait for nothing here, because each read that answers from a cache catches up first
    /// (``cachesCurrent()``).
    ///
    /// The audit record of the request in progress, if any, is written in the same transaction (once per
    /// request: the first write that commits carries it).
    ///
    /// `first`, when given, is read on the same connection just before the transaction (``SQLDatabase/write(readingFirst:_:)``).
    func write<T: Sendable>(readingFirst first: SQLStatement? = nil, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        func run<U: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> U) async throws -> U {
            if let first { return try await database.write(readingFirst: first, body) }
            return try await database.write(body)
        }
        guard let trail = AuditTrail.current, !trail.isCommitted else { return try await run(body) }
        let (result, audited) = try await run { db in
            // The body may run on the database's own thread: the trail goes with it.
            let result = try AuditTrail.$current.withValue(trail) { try body(db) }
            guard let record = trail.recordForTransaction() else { return (result, false) }
            try Self.insertAudit(record, db)
            return (result, true)
        }
        if audited { trail.markCommitted() }
        return result
    }

    /// Whether what this process keeps in memory may answer now: always on a file of one process; on a
    /// shared database once it has heard of every write acknowledged anywhere before the call (false when
    /// that cannot be known: the caller reads the database instead).
    func cachesCurrent() async -> Bool {
        guard let replication else { return true }
        return await replication.coordination.catchUp()
    }

    /// A write transaction that may change what catalog reads answer (every write in this file but
    /// settings, users and sessions; the fleet's writes live in SQLStore+Fleet). The revision moves
    /// after the commit and before the caller hears of it, so a cached answer never outlives an
    /// acknowledged write.
    func writeCatalog<T: Sendable>(readingFirst first: SQLStatement? = nil, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        defer { catalogWrites.move() }
        return try await write(readingFirst: first, body)
    }

    // MARK: Settings and bootstrap

    public func setting(_ key: String) async throws -> String? {
        try await read { db in try db.cachedValue(String.self, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    public func insertSettingIfAbsent(_ key: String, value: String) async throws -> String {
        try await write { db in
            try db.cachedExecute(sql: "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", arguments: [key, value])
            return try db.cachedValue(String.self, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) ?? value
        }
    }

    public func hasOrganizations() async throws -> Bool {
        try await read { db in try db.cachedValue(Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM organizations)") ?? false }
    }

    public func createOrganization(_ organization: Organization, admin: User, defaultRegistry: ImageRegistry) async throws {
        try await writeCatalog { db in
            try db.cachedExecute(sql: "INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)",
                arguments: [organization.id, organization.name, organization.createdAt])
            try Self.insertUser(admin, db)
            try Self.insertRegistry(defaultRegistry, db)
        }
    }

    // MARK: Users and sessions

    public func createUser(_ user: User) async throws {
        try await write { db in try Self.insertUser(user, db) }
    }

    static func insertUser(_ user: User, _ db: any SQLSession) throws {
        do {
            try db.cachedExecute(sql: """
                    INSERT INTO users (id, organization_id, email, name, role, password_hash, created_at, disabled, token_version,
                        must_change_password)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    user.id, user.organizationId, user.email, user.name, user.role.rawValue, user.passwordHash, user.createdAt, user.disabled,
                    user.tokenVersion, user.mustChangePassword,
                ])
        } catch SQLFailure.uniqueViolation {
            // Emails are unique per organization: this names only what the caller's organization has.
            throw SlipwayError.invalidState("your organization already has a user with email \(user.email); choose another email")
        }
    }

    public func users(email: String) async throws -> [User] {
        try await read { db in
            try db.cachedRows(sql: "SELECT * FROM users WHERE email = ? ORDER BY seq LIMIT 20", arguments: [email]).map(Self.user)
        }
    }

    public func changeUser(
        id: String, organizationId: String, _ change: @escaping @Sendable (inout User) throws -> Void
    ) async throws -> (before: User, after: User) {
        // Users and their token versions are read from memory by every request: moving the catalog revision
        // tells each replica to read them afresh.
        try await writeCatalog { db in
            let users = try Self.users(organizationId: organizationId, db)
            guard let before = users.first(where: { $0.id == id }) else { throw SlipwayError.notFound(.user, id) }
            var after = before
            try change(&after)
            guard after != before else { return (before, after) }
            try AccountRules.requireAnAdminRemains(after: after, replacing: before, among: users)
            let endsSessions = after.role != before.role || after.disabled != before.disabled || after.passwordHash != before.passwordHash
            if endsSessions { after.tokenVersion = before.tokenVersion + 1 }
            try db.cachedExecute(
                sql: "UPDATE users SET role = ?, password_hash = ?, disabled = ?, token_version = ?, must_change_password = ? WHERE id = ?",
                arguments: [after.role.rawValue, after.passwordHash, after.disabled, after.tokenVersion, after.mustChangePassword, id])
            if endsSessions { try db.cachedExecute(sql: "DELETE FROM refresh_tokens WHERE user_id = ?", arguments: [id]) }
            return (before, after)
        }
    }

    public func deleteUser(id: String, organizationId: String) async throws -> User {
        try await writeCatalog { db in
            let users = try Self.users(organizationId: organizationId, db)
            guard let user = users.first(where: { $0.id == id }) else { throw SlipwayError.notFound(.user, id) }
            try AccountRules.requireAnAdminRemains(after: nil, replacing: user, among: users)
            try db.cachedExecute(sql: "DELETE FROM refresh_tokens WHERE user_id = ?", arguments: [id])
            try db.cachedExecute(sql: "DELETE FROM users WHERE id = ?", arguments: [id])
            return user
        }
    }

    public func deleteRefreshToken(hash: String, userId: String) async throws -> Bool {
        try await write { db in
            let found = try db.cachedValue(Bool.self,
                sql: "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ? AND user_id = ?)", arguments: [hash, userId]) ?? false
            if found { try db.cachedExecute(sql: "DELETE FROM refresh_tokens WHERE token_hash = ?", arguments: [hash]) }
            return found
        }
    }

    public func user(id: String) async throws -> User? {
        try await read { db in try db.cachedRow(sql: "SELECT * FROM users WHERE id = ?", arguments: [id]).map(Self.user) }
    }

    public func users(organizationId: String) async throws -> [User] {
        try await read { db in try Self.users(organizationId: organizationId, db) }
    }

    static func users(organizationId: String, _ db: any SQLSession) throws -> [User] {
        try db.cachedRows(sql: "SELECT * FROM users WHERE organization_id = ? ORDER BY seq", arguments: [organizationId]).map(Self.user)
    }

    public func saveRefreshToken(hash: String, userId: String, expiresAt: Date) async throws {
        try await write { db in
            try db.cachedExecute(sql: "INSERT INTO refresh_tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)", arguments: [hash, userId, expiresAt])
        }
    }

    public func takeRefreshToken(hash: String, now: Date) async throws -> User? {
        try await write { db in
            guard let row = try db.cachedRow(sql: "SELECT * FROM refresh_tokens WHERE token_hash = ?", arguments: [hash]) else {
                return nil
            }
            try db.cachedExecute(sql: "DELETE FROM refresh_tokens WHERE token_hash = ? OR expires_at < ?", arguments: [hash, now])
            let expiresAt: Date = row["expires_at"]
            guard expiresAt > now else { return nil }
            return try db.cachedRow(sql: "SELECT * FROM users WHERE id = ?", arguments: [row["user_id"] as String]).map(Self.user)
        }
    }

    // MARK: Services

    public func createService(_ service: Service) async throws {
        try await writeCatalog { db in
            try self.checkQuota(.services, organizationId: service.organizationId, db)
            do {
                try db.cachedExecute(sql: "INSERT INTO services (id, organization_id, name, description, created_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [service.id, service.organizationId, service.name, service.description, service.createdAt])
            } catch SQLFailure.uniqueViolation {
                throw SlipwayError.invalidState("a service named '\(service.name)' already exists; choose another name")
            }
        }
    }

    public func service(id: String, organizationId: String) async throws -> Service {
        try await read { db in try Self.service(id: id, organizationId: organizationId, db) }
    }

    static func service(id: String, organizationId: String, _ db: any SQLSession) throws -> Service {
        guard let row = try db.cachedRow(sql: "SELECT * FROM services WHERE id = ? AND organization_id = ?", arguments: [id, organizationId])
        else { throw SlipwayError.notFound(.service, id) }
        return Service(
            id: row["id"], organizationId: row["organization_id"], name: row["name"], description: row["description"],
            createdAt: row["created_at"])
    }

    public func services(organizationId: String, page: PageRequest) async throws -> Page<Service> {
        try await read { db in
            try Self.page(db, sql: "SELECT * FROM services WHERE organization_id = ?", arguments: [organizationId], page: page) { row in
                Service(
                    id: row["id"], organizationId: row["organization_id"], name: row["name"], description: row["description"],
                    createdAt: row["created_at"])
            }
        }
    }

    public func deleteService(id: String, organizationId: String) async throws {
        try await writeCatalog { db in
            _ = try Self.service(id: id, organizationId: organizationId, db)
            let environments = try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM service_environments WHERE service_id = ?", arguments: [id]) ?? 0
            guard environments == 0 else {
                throw SlipwayError.invalidState(
                    "service \(id) still has \(environments) service environment(s); delete them before deleting the service")
            }
            try db.cachedExecute(sql: "DELETE FROM services WHERE id = ?", arguments: [id])
        }
    }

    // MARK: Environments

    public func createEnvironment(_ environment: ServiceEnvironment, organizationId: String) async throws {
        try await writeCatalog { db in
            _ = try Self.service(id: environment.serviceId, organizationId: organizationId, db)
            do {
                try db.cachedExecute(sql: "INSERT INTO service_environments (id, service_id, name, description, type, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        environment.id, environment.serviceId, environment.name, environment.description, environment.type.rawValue,
                        environment.createdAt,
                    ])
            } catch SQLFailure.uniqueViolation {
                throw SlipwayError.invalidState(
                    "service \(environment.serviceId) already has an environment named '\(environment.name)'; choose another name")
            }
        }
    }

    public func environment(id: String, serviceId: String, organizationId: String) async throws -> ServiceEnvironment {
        try await read { db in try Self.environment(id: id, serviceId: serviceId, organizationId: organizationId, db) }
    }

    static func environment(id: String, serviceId: String, organizationId: String, _ db: any SQLSession) throws -> ServiceEnvironment {
        _ = try service(id: serviceId, organizationId: organizationId, db)
        guard let row = try db.cachedRow(sql: "SELECT * FROM service_environments WHERE id = ? AND service_id = ?", arguments: [id, serviceId])
        else { throw SlipwayError.notFound(.serviceEnvironment, id) }
        return try environment(row)
    }

    static func environment(_ row: SQLRow) throws -> ServiceEnvironment {
        ServiceEnvironment(
            id: row["id"], serviceId: row["service_id"], name: row["name"], description: row["description"],
            type: EnvironmentType(rawValue: row["type"]) ?? .dev, createdAt: row["created_at"])
    }

    public func environments(serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<ServiceEnvironment> {
        try await read { db in
            _ = try Self.service(id: serviceId, organizationId: organizationId, db)
            return try Self.page(db, sql: "SELECT * FROM service_environments WHERE service_id = ?", arguments: [serviceId], page: page) {
                try Self.environment($0)
            }
        }
    }

    public func deleteEnvironment(id: String, serviceId: String, organizationId: String) async throws {
        try await writeCatalog { db in
            _ = try Self.environment(id: id, serviceId: serviceId, organizationId: organizationId, db)
            let tiers = try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM product_tiers WHERE service_environment_id = ?", arguments: [id]) ?? 0
            let configs = try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM image_configs WHERE service_environment_id = ?", arguments: [id]) ?? 0
            guard tiers == 0 && configs == 0 else {
                throw SlipwayError.invalidState(
                    "service environment \(id) is still used by \(tiers) product tier(s) and \(configs) image config(s); delete them first")
            }
            try db.cachedExecute(sql: "DELETE FROM service_environments WHERE id = ?", arguments: [id])
        }
    }

    // MARK: Product tiers

    public func createProductTier(_ tier: ProductTier, organizationId: String) async throws {
        try await writeCatalog { db in
            _ = try Self.environment(id: tier.serviceEnvironmentId, serviceId: tier.serviceId, organizationId: organizationId, db)
            do {
                try db.cachedExecute(sql: """
                        INSERT INTO product_tiers (id, service_id, service_environment_id, name, description, created_at)
                        VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [tier.id, tier.serviceId, tier.serviceEnvironmentId, tier.name, tier.description, tier.createdAt])
            } catch SQLFailure.uniqueViolation {
                throw SlipwayError.invalidState(
                    "service environment \(tier.serviceEnvironmentId) already has a product tier named '\(tier.name)'; choose another name")
            }
        }
    }

    static let productTierColumns = """
        SELECT product_tiers.*, (SELECT version FROM tier_versions v WHERE v.product_tier_id = product_tiers.id AND v.status = 'Preferred')
        AS preferred_version FROM product_tiers
        """

    public func productTier(id: String, serviceId: String, organizationId: String) async throws -> ProductTier {
        try await read { db in try Self.productTier(id: id, serviceId: serviceId, organizationId: organizationId, db) }
    }

    static func productTier(id: String, serviceId: String, organizationId: String, _ db: any SQLSession) throws -> ProductTier {
        _ = try service(id: serviceId, organizationId: organizationId, db)
        guard let row = try db.cachedRow(sql: "\(productTierColumns) WHERE id = ? AND service_id = ?", arguments: [id, serviceId]) else {
            throw SlipwayError.notFound(.productTier, id)
        }
        return productTier(row)
    }

    static func productTier(_ row: SQLRow) -> ProductTier {
        ProductTier(
            id: row["id"], serviceId: row["service_id"], serviceEnvironmentId: row["service_environment_id"], name: row["name"],
            description: row["description"], createdAt: row["created_at"], preferredVersion: row["preferred_version"])
    }

    public func productTiers(serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<ProductTier> {
        try await read { db in
            _ = try Self.service(id: serviceId, organizationId: organizationId, db)
            return try Self.page(db, sql: "\(Self.productTierColumns) WHERE service_id = ?", arguments: [serviceId], page: page) {
                Self.productTier($0)
            }
        }
    }

    public func deleteProductTier(id: String, serviceId: String, organizationId: String) async throws {
        try await writeCatalog { db in
            _ = try Self.productTier(id: id, serviceId: serviceId, organizationId: organizationId, db)
            let instances = try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM instances WHERE product_tier_id = ?", arguments: [id]) ?? 0
            guard instances == 0 else {
                throw SlipwayError.invalidState("product tier \(id) still has \(instances) instance(s); delete them before deleting the tier")
            }
            try db.cachedExecute(sql: "DELETE FROM product_tiers WHERE id = ?", arguments: [id])
        }
    }

    // MARK: Image registries

    public func createImageRegistry(_ registry: ImageRegistry) async throws {
        try await writeCatalog { db in
            try self.checkQuota(.imageRegistries, organizationId: registry.organizationId, db)
            try Self.insertRegistry(registry, db)
        }
    }

    static func insertRegistry(_ registry: ImageRegistry, _ db: any SQLSession) throws {
        do {
            try db.cachedExecute(sql: """
                    INSERT INTO image_registries (id, organization_id, name, host, insecure, verify_images, username, password, is_default,
                        created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    registry.id, registry.organizationId, registry.name, registry.host, registry.insecure, registry.verifyImages,
                    registry.username, registry.sealedPassword, registry.isDefault, registry.createdAt,
                ])
        } catch SQLFailure.uniqueViolation {
            throw SlipwayError.invalidState("an image registry named '\(registry.name)' already exists; choose another name")
        }
    }

    static func registry(_ row: SQLRow) -> ImageRegistry {
        ImageRegistry(
            id: row["id"], organizationId: row["organization_id"], name: row["name"], host: row["host"], insecure: row["insecure"],
            verifyImages: row["verify_images"], username: row["username"], sealedPassword: row["password"], isDefault: row["is_default"],
            createdAt: row["created_at"])
    }

    static func registry(id: String, organizationId: String, _ db: any SQLSession) throws -> ImageRegistry {
        guard
            let row = try db.cachedRow(sql: "SELECT * FROM image_registries WHERE id = ? AND organization_id = ?", arguments: [id, organizationId])
        else { throw SlipwayError.notFound(.imageRegistry, id) }
        return registry(row)
    }

    public func imageRegistry(id: String, organizationId: String) async throws -> ImageRegistry {
        try await read { db in try Self.registry(id: id, organizationId: organizationId, db) }
    }

    static func defaultRegistryId(organizationId: String, _ db: any SQLSession) throws -> String {
        guard let id = try db.cachedValue(String.self, sql: "SELECT id FROM image_registries WHERE organization_id = ? AND is_default", arguments: [organizationId])
        else { throw SlipwayError.invalidState("the organization has no default image registry; pass imageRegistryId") }
        return id
    }

    public func imageRegistries(organizationId: String, page: PageRequest) async throws -> Page<ImageRegistry> {
        try await read { db in
            try Self.page(db, sql: "SELECT * FROM image_registries WHERE organization_id = ?", arguments: [organizationId], page: page) {
                Self.registry($0)
            }
        }
    }

    public func deleteImageRegistry(id: String, organizationId: String) async throws {
        try await writeCatalog { db in
            let registry = try Self.registry(id: id, organizationId: organizationId, db)
            guard !registry.isDefault else {
                throw SlipwayError.invalidState("image registry \(id) is the organization's default registry and cannot be deleted")
            }
            let users = try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM image_configs WHERE image_registry_id = ?", arguments: [id]) ?? 0
            guard users == 0 else {
                throw SlipwayError.invalidState(
                    "image registry \(id) is used by \(users) image config(s); point them at another registry or delete them first")
            }
            try db.cachedExecute(sql: "DELETE FROM image_registries WHERE id = ?", arguments: [id])
        }
    }

    public func updateImageRegistry(_ registry: ImageRegistry) async throws {
        try await writeCatalog { db in
            _ = try Self.registry(id: registry.id, organizationId: registry.organizationId, db)
            try db.cachedExecute(
                sql: "UPDATE image_registries SET username = ?, password = ?, insecure = ?, verify_images = ? WHERE id = ?",
                arguments: [registry.username, registry.sealedPassword, registry.insecure, registry.verifyImages, registry.id])
        }
    }

    public func resealRegistryPasswords(_ reseal: @escaping @Sendable (_ registryId: String, _ stored: String) throws -> String?) async throws -> Int {
        try await write { db in
            var changed = 0
            for row in try db.cachedRows(sql: "SELECT id, password FROM image_registries WHERE password IS NOT NULL", arguments: [SQLValue]()) {
                let id: String = row["id"], stored: String = row["password"]
                guard let sealed = try reseal(id, stored), sealed != stored else { continue }
                try db.cachedExecute(sql: "UPDATE image_registries SET password = ? WHERE id = ?", arguments: [sealed, id])
                changed += 1
            }
            return changed
        }
    }

    // MARK: Image configs

    @discardableResult
    public func createImageConfig(_ config: ImageConfig, organizationId: String) async throws -> ImageConfig {
        try await writeCatalog(readingFirst: quotaReading(.imageConfigs, organizationId: organizationId)) { db in
            var config = config
            _ = try Self.environment(id: config.serviceEnvironmentId, serviceId: config.serviceId, organizationId: organizationId, db)
            try self.checkQuota(.imageConfigs, organizationId: organizationId, db)
            if config.spec.imageRegistryId.isEmpty {
                config.spec.imageRegistryId = try Self.defaultRegistryId(organizationId: organizationId, db)
            } else {
                _ = try Self.registry(id: config.spec.imageRegistryId, organizationId: organizationId, db)
            }
            try db.cachedExecute(sql: """
                    INSERT INTO image_configs (id, service_id, service_environment_id, image_registry_id, description, image_name, image_tag,
                        public_key_pem, commands, args, revision, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    config.id, config.serviceId, config.serviceEnvironmentId, config.spec.imageRegistryId, config.spec.description,
                    config.spec.imageName, config.spec.imageTag, config.spec.publicKeyPEM, Self.encode(config.spec.commands),
                    Self.encode(config.spec.args), config.revision, config.createdAt, config.updatedAt,
                ])
            return config
        }
    }

    public func imageConfig(id: String, serviceId: String, organizationId: String) async throws -> ImageConfig {
        try await read { db in try Self.imageConfig(id: id, serviceId: serviceId, organizationId: organizationId, db) }
    }

    static func imageConfig(id: String, serviceId: String, organizationId: String, _ db: any SQLSession) throws -> ImageConfig {
        let row = try db.cachedRow(sql: """
                SELECT c.* FROM image_configs c JOIN services s ON s.id = c.service_id
                WHERE c.id = ? AND c.service_id = ? AND s.organization_id = ?
                """,
            arguments: [id, serviceId, organizationId])
        guard let row else { throw SlipwayError.notFound(.imageConfig, id) }
        return ImageConfig(
            id: row["id"], serviceId: row["service_id"], serviceEnvironmentId: row["service_environment_id"],
            spec: ImageSpec(
                description: row["description"], imageName: row["image_name"], imageTag: row["image_tag"],
                imageRegistryId: row["image_registry_id"], publicKeyPEM: row["public_key_pem"], commands: decode(row["commands"]),
                args: decode(row["args"])),
            revision: row["revision"], createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    public func imageConfigIDs(serviceId: String, environmentId: String, organizationId: String, page: PageRequest) async throws -> Page<String> {
        try await read { db in
            _ = try Self.environment(id: environmentId, serviceId: serviceId, organizationId: organizationId, db)
            return try Self.page(
                db, sql: "SELECT seq, id FROM image_configs WHERE service_environment_id = ?", arguments: [environmentId], page: page
            ) { $0["id"] }
        }
    }

    public func updateImageConfig(
        id: String, serviceId: String, organizationId: String, change: ImageSpecChange, now: Date
    ) async throws -> ImageConfig {
        try await writeCatalog { db in
            var config = try Self.imageConfig(id: id, serviceId: serviceId, organizationId: organizationId, db)
            let spec = config.spec.applying(change)
            guard spec != config.spec else { return config }
            if spec.imageRegistryId != config.spec.imageRegistryId {
                _ = try Self.registry(id: spec.imageRegistryId, organizationId: organizationId, db)
            }
            config.spec = spec
            config.revision += 1
            config.updatedAt = now
            try db.cachedExecute(sql: """
                    UPDATE image_configs SET image_registry_id = ?, description = ?, image_name = ?, image_tag = ?, public_key_pem = ?,
                        commands = ?, args = ?, revision = ?, updated_at = ?
                    WHERE id = ?
                    """,
                arguments: [
                    spec.imageRegistryId, spec.description, spec.imageName, spec.imageTag, spec.publicKeyPEM, Self.encode(spec.commands),
                    Self.encode(spec.args), config.revision, now, id,
                ])
            return config
        }
    }

    public func deleteImageConfig(id: String, serviceId: String, organizationId: String) async throws {
        try await writeCatalog { db in
            _ = try Self.imageConfig(id: id, serviceId: serviceId, organizationId: organizationId, db)
            let live = try db.cachedValues(String.self,
                sql: "SELECT id FROM rollouts WHERE image_config_id = ? AND (status IN \(Self.liveOrPlanningStatuses) OR rollback = 'running') ORDER BY seq",
                arguments: [id])
            guard live.isEmpty else {
                throw SlipwayError.invalidState(
                    "image config \(id) has a rollout in progress (\(live.joined(separator: ", "))); "
                        + "let it finish or cancel it before deleting the image config")
            }
            // Released tier versions keep their snapshots and rollouts their history; only the working copy goes.
            try db.cachedExecute(sql: "DELETE FROM image_configs WHERE id = ?", arguments: [id])
        }
    }

    // MARK: Releases

    public func release(
        imageConfigId: String, serviceId: String, organizationId: String, productTierId: String?, checked: CheckedImage?, releasedBy: String,
        releaseNotes: String?, now: Date
    ) async throws -> [TierVersion] {
        try await writeCatalog { db in
            let config = try Self.imageConfig(id: imageConfigId, serviceId: serviceId, organizationId: organizationId, db)
            let registry = try Self.registry(id: config.spec.imageRegistryId, organizationId: organizationId, db)
            try CheckedImage.requireCurrent(checked, config: config, registry: registry)
            let tiers: [ProductTier]
            if let productTierId {
                let tier = try Self.productTier(id: productTierId, serviceId: serviceId, organizationId: organizationId, db)
                guard tier.serviceEnvironmentId == config.serviceEnvironmentId else {
                    throw SlipwayError.badRequest(
                        "product tier \(productTierId) belongs to service environment \(tier.serviceEnvironmentId), but image config "
                            + "\(imageConfigId) belongs to \(config.serviceEnvironmentId); pick a product tier of the same environment")
                }
                tiers = [tier]
            } else {
                tiers = try db.cachedRows( sql: "\(Self.productTierColumns) WHERE service_environment_id = ? ORDER BY seq",
                    arguments: [config.serviceEnvironmentId]
                ).map(Self.productTier)
            }
            let states = try tiers.map { tier in
                ReleasePlanner.TierState(tier: tier, latest: try Self.latestTierVersion(productTierId: tier.id, serviceId: serviceId, db))
            }
            let existing = Set(
                try db.cachedValues(String.self, sql: "SELECT id FROM image_configs WHERE service_environment_id = ?",
                    arguments: [config.serviceEnvironmentId]))
            let versions = try ReleasePlanner.plan(
                releasing: config, from: registry, digest: checked?.digest, into: states, existingImageConfigIds: existing,
                releasedBy: releasedBy, at: now)
            for var version in versions {
                version.releaseNotes = releaseNotes
                try db.cachedExecute(sql: "UPDATE tier_versions SET status = 'Active' WHERE product_tier_id = ? AND status = 'Preferred'",
                    arguments: [version.productTierId])
                try Self.insertTierVersion(version, db)
                let image = version.images.first { $0.imageConfigId == config.id }?.imageReference ?? ""
                try Self.enqueueWebhookEvent(.release, organizationId: organizationId, now: now, db) { body in
                    body.release = .init(
                        serviceId: serviceId, imageConfigId: config.id, productTierId: version.productTierId, version: version.version, image: image,
                        releasedBy: releasedBy, releaseNotes: releaseNotes)
                }
            }
            return versions
        }
    }

    static func insertTierVersion(_ version: TierVersion, _ db: any SQLSession) throws {
        let seq = try db.cachedValue(Int64.self, sql: """
                INSERT INTO tier_versions (product_tier_id, sequence, version, status, released_at, released_by, release_notes)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                RETURNING seq
                """,
            arguments: [
                version.productTierId, version.sequence, version.version, version.status.rawValue, version.releasedAt, version.releasedBy,
                version.releaseNotes,
            ])
        guard let seq else { throw SlipwayError.failedRequest("the database did not return the new tier version's seq") }
        for image in version.images {
            try db.cachedExecute(sql: """
                    INSERT INTO tier_version_images (tier_version_seq, image_config_id, revision, description, image_name, image_tag,
                        image_registry_id, registry_host, registry_insecure, image_digest, public_key_pem, commands, args)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    seq, image.imageConfigId, image.revision, image.spec.description, image.spec.imageName, image.spec.imageTag,
                    image.spec.imageRegistryId, image.registryHost, image.registryInsecure, image.imageDigest, image.spec.publicKeyPEM,
                    encode(image.spec.commands), encode(image.spec.args),
                ])
        }
    }

    static func latestTierVersion(productTierId: String, serviceId: String, _ db: any SQLSession) throws -> TierVersion? {
        let rows = try db.cachedRows( sql: "SELECT * FROM tier_versions WHERE product_tier_id = ? ORDER BY sequence DESC LIMIT 1", arguments: [productTierId])
        return try tierVersions(rows, serviceId: serviceId, db).first
    }

    /// Tier versions with their snapshots, in two queries whatever the number of versions.
    static func tierVersions(_ rows: [SQLRow], serviceId: String, _ db: any SQLSession) throws -> [TierVersion] {
        guard !rows.isEmpty else { return [] }
        let seqs: [Int64] = rows.map { $0["seq"] }
        let imageRows = try db.cachedRows(
            sql: "SELECT * FROM tier_version_images WHERE tier_version_seq IN (\(seqs.map { _ in "?" }.joined(separator: ","))) ORDER BY image_config_id",
            arguments: seqs)
        var images: [Int64: [ImageConfigSnapshot]] = [:]
        for row in imageRows {
            images[row["tier_version_seq"], default: []].append(
                ImageConfigSnapshot(
                    imageConfigId: row["image_config_id"], revision: row["revision"],
                    spec: ImageSpec(
                        description: row["description"], imageName: row["image_name"], imageTag: row["image_tag"],
                        imageRegistryId: row["image_registry_id"], publicKeyPEM: row["public_key_pem"], commands: decode(row["commands"]),
                        args: decode(row["args"])),
                    registryHost: row["registry_host"], registryInsecure: row["registry_insecure"], imageDigest: row["image_digest"]))
        }
        return rows.map { row in
            TierVersion(
                serviceId: serviceId, productTierId: row["product_tier_id"], version: row["version"], sequence: row["sequence"],
                status: TierVersionStatus(rawValue: row["status"]) ?? .active, releasedAt: row["released_at"], releasedBy: row["released_by"],
                images: images[row["seq"]] ?? [], releaseNotes: row["release_notes"])
        }
    }

    public func tierVersions(productTierId: String, serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<TierVersion> {
        try await read { db in
            _ = try Self.productTier(id: productTierId, serviceId: serviceId, organizationId: organizationId, db)
            let rows = try Self.page(db, sql: "SELECT * FROM tier_versions WHERE product_tier_id = ?", arguments: [productTierId], page: page) { $0 }
            return Page(items: try Self.tierVersions(rows.items, serviceId: serviceId, db), nextCursor: rows.nextCursor)
        }
    }

    public func tierVersion(_ version: String, productTierId: String, serviceId: String, organizationId: String) async throws -> TierVersion {
        try await read { db in
            try Self.tierVersion(version, productTierId: productTierId, serviceId: serviceId, organizationId: organizationId, db)
        }
    }

    static func tierVersion(_ version: String, productTierId: String, serviceId: String, organizationId: String, _ db: any SQLSession) throws
        -> TierVersion
    {
        _ = try productTier(id: productTierId, serviceId: serviceId, organizationId: organizationId, db)
        let rows = try db.cachedRows( sql: "SELECT * FROM tier_versions WHERE product_tier_id = ? AND version = ?", arguments: [productTierId, version])
        guard let found = try tierVersions(rows, serviceId: serviceId, db).first else {
            throw SlipwayError.notFound("product tier \(productTierId) has no version '\(version.prefix(40))'")
        }
        return found
    }

    public func setReleaseNotes(_ notes: String?, version: String, productTierId: String, serviceId: String, organizationId: String) async throws
        -> TierVersion
    {
        try await writeCatalog { db in
            var found = try Self.tierVersion(version, productTierId: productTierId, serviceId: serviceId, organizationId: organizationId, db)
            try db.cachedExecute(sql: "UPDATE tier_versions SET release_notes = ? WHERE product_tier_id = ? AND version = ?",
                arguments: [notes, productTierId, version])
            found.releaseNotes = notes
            return found
        }
    }

    public func changeTierVersion(
        _ version: String, to status: TierVersionStatus, productTierId: String, serviceId: String, organizationId: String
    ) async throws -> TierVersion {
        try await writeCatalog { db in
            var found = try Self.tierVersion(version, productTierId: productTierId, serviceId: serviceId, organizationId: organizationId, db)
            switch status {
            case .preferred:
                try VersionLifecycle.checkPromote(found)
                try db.cachedExecute(sql: "UPDATE tier_versions SET status = 'Active' WHERE product_tier_id = ? AND status = 'Preferred'",
                    arguments: [productTierId])
            case .deprecated:
                try VersionLifecycle.checkDeprecate(found)
            case .active, .pending:
                throw SlipwayError.badRequest("a tier version becomes Active or Pending only by release")
            }
            try db.cachedExecute(sql: "UPDATE tier_versions SET status = ? WHERE product_tier_id = ? AND version = ?",
                arguments: [status.rawValue, productTierId, version])
            found.status = status
            return found
        }
    }

    // MARK: Helpers

    /// One page of `sql` (which selects `seq`), in insertion order, fetching one row more to know if another page follows.
    static func page<T>(
        _ db: any SQLSession, sql: String, arguments: [any SQLBindable], page: PageRequest, order: String = "seq", _ transform: (SQLRow) throws -> T
    ) throws -> Page<T> {
        var arguments = arguments
        arguments += [page.after ?? 0, page.size + 1]
        let rows = try db.cachedRows(sql: "\(sql) AND \(order) > ? ORDER BY \(order) LIMIT ?", arguments: arguments)
        let items = Array(rows.prefix(page.size))
        let next: Int64? = rows.count > page.size ? items.last?["seq"] : nil
        return Page(items: try items.map(transform), nextCursor: next)
    }

    static func user(_ row: SQLRow) -> User {
        User(
            id: row["id"], organizationId: row["organization_id"], email: row["email"], name: row["name"],
            role: Role(rawValue: row["role"]) ?? .viewer, passwordHash: row["password_hash"], createdAt: row["created_at"],
            disabled: row["disabled"], tokenVersion: row["token_version"], mustChangePassword: row["must_change_password"])
    }

    static func encode(_ list: [String]?) -> String? {
        list.map(encodeJSON)
    }

    static func decode(_ text: String?) -> [String]? {
        decodeJSON(text)
    }

    // MARK: Audit log

    static func insertAudit(_ record: AuditRecord, _ db: any SQLSession) throws {
        try db.cachedExecute(sql: """
                INSERT INTO audit_log (at, organization_id, actor_type, actor_id, actor_email, action, targets, status, error_id, client_address,
                    changes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.at, record.organizationId, record.actorType, record.actorId, record.actorEmail, record.action,
                encodeJSON(record.targets), record.status, record.errorId, record.clientAddress,
                record.changes.isEmpty ? nil : encodeJSON(record.changes),
            ])
    }

    public func appendAudit(_ record: AuditRecord) async throws {
        try await database.write { db in try Self.insertAudit(record, db) }
    }

    public func auditRecords(organizationId: String, filter: AuditFilter, page: PageRequest) async throws -> Page<AuditRecord> {
        try await read { db in
            var sql = "SELECT * FROM audit_log WHERE organization_id = ?"
            var arguments: [any SQLBindable] = [organizationId]
            if let actor = filter.actor {
                sql += " AND (actor_id = ? OR actor_email = ?)"
                arguments += [actor, actor.lowercased()]
            }
            if let action = filter.action {
                sql += action.hasSuffix(".") ? " AND action LIKE ?" : " AND action = ?"
                arguments.append(action.hasSuffix(".") ? action + "%" : action)
            }
            if let target = filter.target {
                sql += " AND targets LIKE ?"
                arguments.append("%\"\(target)\"%")
            }
            if let since = filter.since {
                sql += " AND at >= ?"
                arguments.append(since)
            }
            if let until = filter.until {
                sql += " AND at < ?"
                arguments.append(until)
            }
            // Newest first: the cursor is the last seq shown, and the next page is older.
            if let after = page.after {
                sql += " AND seq < ?"
                arguments.append(after)
            }
            sql += " ORDER BY seq DESC LIMIT ?"
            arguments.append(page.size + 1)
            let rows = try db.cachedRows(sql: sql, arguments: arguments)
            let items = Array(rows.prefix(page.size))
            let next: Int64? = rows.count > page.size ? items.last?["seq"] : nil
            return Page(items: items.map(Self.auditRecord), nextCursor: next)
        }
    }

    public func trimAudit(before: Date, limit: Int) async throws -> Int {
        try await database.write { db in
            let seqs = try db.cachedValues(Int64.self, sql: "SELECT seq FROM audit_log WHERE at < ? ORDER BY seq LIMIT ?", arguments: [before, limit])
            guard let last = seqs.last else { return 0 }
            try db.cachedExecute(sql: "DELETE FROM audit_log WHERE at < ? AND seq <= ?", arguments: [before, last])
            return seqs.count
        }
    }

    static func auditRecord(_ row: SQLRow) -> AuditRecord {
        AuditRecord(
            at: row["at"], organizationId: row["organization_id"], actorType: row["actor_type"], actorId: row["actor_id"],
            actorEmail: row["actor_email"], action: row["action"], targets: decodeJSON(row["targets"]) ?? [:], status: row["status"],
            errorId: row["error_id"], clientAddress: row["client_address"], changes: decodeJSON(row["changes"]) ?? [:])
    }
}
