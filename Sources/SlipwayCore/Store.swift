import Foundation

/// Durable storage of everything Slipway knows, scoped by organization.
///
/// Every lookup takes the caller's organization: a resource of another organization is reported
/// exactly like one that does not exist (``SlipwayError/notFound(_:_:)``). Each method is one
/// transaction. Implementation: `SQLStore`, whose queries run on the embedded SQLite file (the default)
/// or, for replicated deployments, on PostgreSQL.
public protocol SlipwayStore: Sendable {
    /// Moves on every committed write that may change a catalog read (services, environments, tiers,
    /// registries, image configs, versions), before the writer's call returns; fleet, user and session
    /// writes leave it alone. Answers cached under one revision are valid until it moves. A store shared by
    /// several processes must also move it on the others' writes, and answer only once it has heard of
    /// every write they acknowledged before the call.
    func catalogRevision() async -> UInt64

    // MARK: Server settings and bootstrap

    /// A server setting (a key and a text value).
    func setting(_ key: String) async throws -> String?
    /// Stores `value` unless the key has one already; returns the value in force.
    func insertSettingIfAbsent(_ key: String, value: String) async throws -> String
    /// Whether any organization exists yet.
    func hasOrganizations() async throws -> Bool
    /// Creates an organization with its first admin and its default registry. 409 if the email is taken.
    func createOrganization(_ organization: Organization, admin: User, defaultRegistry: ImageRegistry) async throws

    // MARK: Users and sessions

    /// Adds a user. 409 if the email is taken.
    func createUser(_ user: User) async throws
    /// The users with this email, in any organization (emails are unique per organization); at most 20.
    func users(email: String) async throws -> [User]
    func user(id: String) async throws -> User?
    func users(organizationId: String) async throws -> [User]
    func saveRefreshToken(hash: String, userId: String, expiresAt: Date) async throws
    /// Applies an admin's change to a user in one transaction, refusing one that leaves the organization
    /// without an enabled admin (409). A change of role, disabled or password moves the token version and
    /// ends the user's refresh tokens. 404 for a user of another organization.
    func changeUser(id: String, organizationId: String, _ change: @escaping @Sendable (inout User) throws -> Void) async throws
        -> (before: User, after: User)
    /// Deletes a user and their sessions; never the last enabled admin (409).
    func deleteUser(id: String, organizationId: String) async throws -> User
    /// Ends one session: deletes the refresh token if it is the user's. Whether it was.
    func deleteRefreshToken(hash: String, userId: String) async throws -> Bool
    /// Deletes a refresh token and returns its user, if it existed and had not expired.
    func takeRefreshToken(hash: String, now: Date) async throws -> User?

    // MARK: Services, environments, product tiers

    func createService(_ service: Service) async throws
    func service(id: String, organizationId: String) async throws -> Service
    func services(organizationId: String, page: PageRequest) async throws -> Page<Service>
    /// 409 while the service has environments.
    func deleteService(id: String, organizationId: String) async throws

    func createEnvironment(_ environment: ServiceEnvironment, organizationId: String) async throws
    func environment(id: String, serviceId: String, organizationId: String) async throws -> ServiceEnvironment
    func environments(serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<ServiceEnvironment>
    /// 409 while product tiers or image configs use the environment.
    func deleteEnvironment(id: String, serviceId: String, organizationId: String) async throws

    func createProductTier(_ tier: ProductTier, organizationId: String) async throws
    func productTier(id: String, serviceId: String, organizationId: String) async throws -> ProductTier
    func productTiers(serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<ProductTier>
    /// Deletes the tier with its versions.
    func deleteProductTier(id: String, serviceId: String, organizationId: String) async throws

    // MARK: Image registries

    func createImageRegistry(_ registry: ImageRegistry) async throws
    func imageRegistry(id: String, organizationId: String) async throws -> ImageRegistry
    func imageRegistries(organizationId: String, page: PageRequest) async throws -> Page<ImageRegistry>
    /// Saves a registry's changeable fields: credentials, `insecure`, `verifyImages`.
    func updateImageRegistry(_ registry: ImageRegistry) async throws
    /// 409 for the default registry or one that image configs use.
    func deleteImageRegistry(id: String, organizationId: String) async throws
    /// Rewrites stored registry passwords in one transaction: `reseal` gets each registry's id and stored
    /// password and answers what to store (nil or the same value leaves it). Returns how many changed.
    func resealRegistryPasswords(_ reseal: @escaping @Sendable (_ registryId: String, _ stored: String) throws -> String?) async throws -> Int

    // MARK: Image configs and releases

    /// Adds an image config after checking that its environment and registry belong to the organization.
    /// An empty `imageRegistryId` means the organization's default registry (as on the wire), resolved in
    /// the same transaction. Returns the config as stored.
    @discardableResult
    func createImageConfig(_ config: ImageConfig, organizationId: String) async throws -> ImageConfig
    func imageConfig(id: String, serviceId: String, organizationId: String) async throws -> ImageConfig
    func imageConfigIDs(serviceId: String, environmentId: String, organizationId: String, page: PageRequest) async throws -> Page<String>
    /// Applies a change; the revision moves only if the spec changed. Returns the config as stored.
    func updateImageConfig(id: String, serviceId: String, organizationId: String, change: ImageSpecChange, now: Date) async throws -> ImageConfig
    /// Deletes the working copy; released tier versions keep their snapshots of it and rollouts their
    /// history. 409 while a rollout of it is in progress.
    func deleteImageConfig(id: String, serviceId: String, organizationId: String) async throws
    /// Cuts new tier versions pinning the working copy (see ``ReleasePlanner``); all or nothing. `checked` is
    /// what the registry said (nil when the registry is not verified); 409 when it no longer matches.
    func release(
        imageConfigId: String, serviceId: String, organizationId: String, productTierId: String?, checked: CheckedImage?, releasedBy: String,
        releaseNotes: String?, now: Date
    ) async throws -> [TierVersion]
    /// Replaces a tier version's release notes (nil removes them).
    func setReleaseNotes(_ notes: String?, version: String, productTierId: String, serviceId: String, organizationId: String) async throws
        -> TierVersion
    func tierVersions(productTierId: String, serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<TierVersion>
    func tierVersion(_ version: String, productTierId: String, serviceId: String, organizationId: String) async throws -> TierVersion
    /// Makes `version` the tier's Preferred one (the previous Preferred becomes Active), or Deprecated; see ``VersionLifecycle``.
    func changeTierVersion(
        _ version: String, to status: TierVersionStatus, productTierId: String, serviceId: String, organizationId: String
    ) async throws -> TierVersion

    // MARK: Audit log

    /// Appends a record on its own: for a request that ended without a write (refused, failed). A request
    /// that writes has its record written with its change (``AuditTrail``).
    func appendAudit(_ record: AuditRecord) async throws
    /// One page of an organization's records, newest first.
    func auditRecords(organizationId: String, filter: AuditFilter, page: PageRequest) async throws -> Page<AuditRecord>
    /// Deletes up to `limit` of the oldest records from before `before`; how many went.
    func trimAudit(before: Date, limit: Int) async throws -> Int
}

/// What `GET /audit-log` narrows to; nil means any.
public struct AuditFilter: Sendable, Equatable {
    /// A user id or email.
    public var actor: String?
    /// An action, or a prefix ending in `.` (`rollout.`).
    public var action: String?
    /// An id the record names.
    public var target: String?
    public var since: Date?
    public var until: Date?

    public init(actor: String? = nil, action: String? = nil, target: String? = nil, since: Date? = nil, until: Date? = nil) {
        self.actor = actor
        self.action = action
        self.target = target
        self.since = since
        self.until = until
    }
}

extension SlipwayStore {
    /// A release without notes.
    public func release(
        imageConfigId: String, serviceId: String, organizationId: String, productTierId: String?, checked: CheckedImage?, releasedBy: String,
        now: Date
    ) async throws -> [TierVersion] {
        try await release(
            imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId, productTierId: productTierId, checked: checked,
            releasedBy: releasedBy, releaseNotes: nil, now: now)
    }
}
