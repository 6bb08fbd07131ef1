import Foundation
import SlipwayCore
import SlipwayStorage
import SlipwayTestSupport
import Testing

/// The stores the conformance suite and the generated histories run against. A new store adds a case here.
enum StoreUnderTest: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite
    /// A fresh database on the cluster scripts/test.sh starts.
    case postgres

    var testDescription: String { rawValue }

    /// A fresh, empty store; `reopen` opens the same one again, as after a restart.
    func makeEmpty() async throws -> OpenedStore {
        switch self {
        case .sqlite:
            // tmpfs where there is one: these tests measure rules, not fsync.
            let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
            let path = base.appendingPathComponent("slipway-store-\(UUID().uuidString).sqlite").path
            return OpenedStore(store: try SQLStore(sqlitePath: path), path: path, reopen: { try SQLStore(sqlitePath: path) }) {
                for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            }
        case .postgres:
            let url = try await TestPostgres.freshDatabase()
            return OpenedStore(store: try await SQLStore.openPostgres(url: url), path: nil, url: url, reopen: { try await SQLStore.openPostgres(url: url) }) {
                TestPostgres.drop(url)
            }
        }
    }
}

typealias AnyStore = any SlipwayStore & FleetStore

/// A store, a way to open it again, and a way to remove it.
struct OpenedStore: Sendable {
    var store: AnyStore
    /// The database file, for stores that have one.
    let path: String?
    /// The database URL, for stores on a server.
    var url: String? = nil
    let reopen: @Sendable () async throws -> AnyStore
    let remove: @Sendable () -> Void

    init(
        store: AnyStore, path: String?, url: String? = nil, reopen: @escaping @Sendable () async throws -> AnyStore, remove: @escaping @Sendable () -> Void
    ) {
        self.store = store
        self.path = path
        self.url = url
        self.reopen = reopen
        self.remove = remove
    }
}

/// An organization with a service, a prod environment, a product tier and an image config released at tag `1`
/// (tier version 1.0), built through the store protocol alone.
struct StoreFixture: Sendable {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    var organizationId: String
    var adminEmail: String
    var serviceId: String
    var environmentId: String
    var productTierId: String
    var imageConfigId: String

    static func make(_ store: AnyStore, name: String = "acme-\(UUID().uuidString.lowercased())") async throws -> StoreFixture {
        let organization = Organization(id: Identifiers.new(.organization), name: name, createdAt: t0)
        let admin = User(
            id: Identifiers.new(.user), organizationId: organization.id, email: "admin@\(name).example", name: "admin", role: .admin,
            passwordHash: "x", createdAt: t0)
        let registry = ImageRegistry(
            id: Identifiers.new(.imageRegistry), organizationId: organization.id, name: "docker-hub", host: "docker.io", verifyImages: false, username: nil,
            sealedPassword: nil, isDefault: true, createdAt: t0)
        try await store.createOrganization(organization, admin: admin, defaultRegistry: registry)
        let service = Service(id: Identifiers.new(.service), organizationId: organization.id, name: "db", description: "", createdAt: t0)
        try await store.createService(service)
        let environment = ServiceEnvironment(id: Identifiers.new(.serviceEnvironment), serviceId: service.id, name: "prod", description: "", type: .prod, createdAt: t0)
        try await store.createEnvironment(environment, organizationId: organization.id)
        let tier = ProductTier(id: Identifiers.new(.productTier), serviceId: service.id, serviceEnvironmentId: environment.id, name: "basic", description: "", createdAt: t0)
        try await store.createProductTier(tier, organizationId: organization.id)
        let config = ImageConfig(
            id: Identifiers.new(.imageConfig), serviceId: service.id, serviceEnvironmentId: environment.id,
            spec: ImageSpec(description: "app", imageName: "acme/app", imageTag: "1", imageRegistryId: "", publicKeyPEM: nil, commands: nil, args: nil),
            revision: 1, createdAt: t0, updatedAt: t0)
        try await store.createImageConfig(config, organizationId: organization.id)
        _ = try await store.release(
            imageConfigId: config.id, serviceId: service.id, organizationId: organization.id, productTierId: nil, checked: nil, releasedBy: admin.email, now: t0)
        return StoreFixture(
            organizationId: organization.id, adminEmail: admin.email, serviceId: service.id, environmentId: environment.id, productTierId: tier.id,
            imageConfigId: config.id)
    }

    /// Registers `count` instances at the tier's preferred version; returns their ids and agent token hashes.
    func register(_ store: AnyStore, count: Int) async throws -> [(id: String, tokenHash: String)] {
        var registered: [(String, String)] = []
        for index in 0..<count {
            let tokenHash = "token-hash-\(UUID().uuidString)"
            let instance = try await store.registerInstance(
                organizationId: organizationId, serviceId: serviceId, environmentId: environmentId, productTierId: productTierId,
                name: "node-\(index)", tierVersion: nil, labels: [:], agentTokenHash: tokenHash, now: Self.t0)
            registered.append((instance.id, tokenHash))
        }
        return registered
    }

    /// Moves the working copy to `tag` and releases it.
    func ship(_ store: AnyStore, tag: String, now: Date = t0) async throws {
        _ = try await store.updateImageConfig(id: imageConfigId, serviceId: serviceId, organizationId: organizationId, change: ImageSpecChange(imageTag: tag), now: now)
        _ = try await store.release(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId, productTierId: nil, checked: nil, releasedBy: adminEmail, now: now)
    }

    /// What the engine does on a tick: expire deadlines, then advance every active rollout.
    static func tick(_ store: AnyStore, now: Date) async throws {
        _ = try await store.expireDeadlines(now: now)
        for id in try await store.activeRolloutIDs() { _ = try await store.advanceRollout(id: id, now: now) }
    }

    /// Every row of a rollout.
    static func rows(_ store: AnyStore, rolloutId: String) async throws -> [RolloutInstance] {
        var rows: [RolloutInstance] = []
        var page = PageRequest(size: 100)
        while true {
            let got = try await store.rolloutInstances(rolloutId: rolloutId, status: nil, page: page)
            rows += got.items
            guard let next = got.nextCursor else { return rows }
            page = PageRequest(size: 100, after: next)
        }
    }
}
