import Foundation
import SlipwayCore
import SlipwayStorage
import Synchronization
import Testing

/// The contract every store keeps, through the store protocols alone: catalog, tenancy, pagination,
/// sessions and agent tokens, the fleet, and rollouts driven by the engine's own calls. A second store
/// adds a case to ``StoreUnderTest`` and runs all of it unchanged.
@Suite("Store conformance")
struct StoreConformanceTests {
    static let t0 = StoreFixture.t0

    func withStore(_ kind: StoreUnderTest, _ body: (OpenedStore) async throws -> Void) async throws {
        let opened = try await kind.makeEmpty()
        defer { opened.remove() }
        try await body(opened)
        await (opened.store as? SQLStore)?.close()
    }

    /// The audit log: a write's record goes with it, and none without it; records are read per organization,
    /// newest first, filtered; retention trims the oldest in bounded batches.
    @Test(arguments: StoreUnderTest.allCases)
    func auditRecordsGoWithTheirWritesAndAreTrimmed(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            let store = opened.store
            let acme = try await StoreFixture.make(store)
            let base = AuditRecord(
                at: Self.t0, organizationId: acme.organizationId, actorType: "user", actorId: "u-1", actorEmail: "a@acme.test",
                action: "service.create")
            // A write that fails takes its record with it; the one that commits carries it.
            let failing = AuditTrail(base)
            await #expect(throws: (any Error).self) {
                try await AuditTrail.$current.withValue(failing) {
                    try await store.createService(
                        Service(id: acme.serviceId, organizationId: acme.organizationId, name: "dup", description: "", createdAt: Self.t0))
                }
            }
            #expect(!failing.isCommitted)
            let committed = AuditTrail(base)
            let id = try await AuditTrail.$current.withValue(committed) { () async throws -> String in
                let id = Identifiers.new(.service)
                try await store.createService(Service(id: id, organizationId: acme.organizationId, name: "new", description: "", createdAt: Self.t0))
                return id
            }
            #expect(committed.isCommitted)
            var page = try await store.auditRecords(organizationId: acme.organizationId, filter: AuditFilter(), page: PageRequest(size: 10))
            #expect(page.items.count == 1 && page.items[0].targets == ["serviceId": id])

            for day in 1...25 {
                var old = base
                old.at = Self.t0.addingTimeInterval(Double(day) * 86_400)
                old.action = day % 2 == 0 ? "rollout.pause" : "rollout.resume"
                try await store.appendAudit(old)
            }
            let other = try await StoreFixture.make(store)
            #expect(try await store.auditRecords(organizationId: other.organizationId, filter: AuditFilter(), page: PageRequest(size: 10)).items.isEmpty)
            page = try await store.auditRecords(organizationId: acme.organizationId, filter: AuditFilter(action: "rollout."), page: PageRequest(size: 10))
            #expect(page.items.count == 10 && page.items.first?.at == Self.t0.addingTimeInterval(25 * 86_400))
            let paused = try await store.auditRecords(
                organizationId: acme.organizationId, filter: AuditFilter(action: "rollout.pause"), page: PageRequest(size: 100))
            #expect(paused.items.count == 12)
            // Retention: everything before day 20, at most 7 a batch.
            let cutoff = Self.t0.addingTimeInterval(20 * 86_400)
            #expect(try await store.trimAudit(before: cutoff, limit: 7) == 7)
            #expect(try await store.trimAudit(before: cutoff, limit: 7) == 7)
            #expect(try await store.trimAudit(before: cutoff, limit: 7) == 6)
            #expect(try await store.trimAudit(before: cutoff, limit: 7) == 0)
            let left = try await store.auditRecords(organizationId: acme.organizationId, filter: AuditFilter(), page: PageRequest(size: 100))
            #expect(left.items.map(\.at) == (20...25).reversed().map { Self.t0.addingTimeInterval(Double($0) * 86_400) })
        }
    }

    @Test(arguments: StoreUnderTest.allCases)
    func catalogTenancyAndPagination(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            let store = opened.store
            let acme = try await StoreFixture.make(store)
            let other = try await StoreFixture.make(store)
            // Another organization's service reads exactly like one that does not exist.
            await #expect(throws: SlipwayError.notFound(.service, acme.serviceId)) {
                try await store.service(id: acme.serviceId, organizationId: other.organizationId)
            }
            await #expect(throws: SlipwayError.notFound(.imageConfig, acme.imageConfigId)) {
                try await store.imageConfig(id: acme.imageConfigId, serviceId: acme.serviceId, organizationId: other.organizationId)
            }
            for name in ["b", "c"] {
                try await store.createService(Service(id: Identifiers.new(.service), organizationId: acme.organizationId, name: name, description: "", createdAt: Self.t0))
            }
            let first = try await store.services(organizationId: acme.organizationId, page: PageRequest(size: 2))
            #expect(first.items.map(\.name) == ["db", "b"])
            let cursor = try #require(first.nextCursor)
            let second = try await store.services(organizationId: acme.organizationId, page: PageRequest(size: 2, after: cursor))
            #expect(second.items.map(\.name) == ["c"])
            #expect(second.nextCursor == nil)
            #expect(try await store.services(organizationId: other.organizationId, page: PageRequest(size: 10)).items.count == 1)
            // Releasing again without a change is refused; versions count up.
            await #expect(throws: SlipwayError.self) {
                try await store.release(
                    imageConfigId: acme.imageConfigId, serviceId: acme.serviceId, organizationId: acme.organizationId, productTierId: nil, checked: nil,
                    releasedBy: acme.adminEmail, now: Self.t0)
            }
            try await acme.ship(store, tag: "2")
            let versions = try await store.tierVersions(
                productTierId: acme.productTierId, serviceId: acme.serviceId, organizationId: acme.organizationId, page: PageRequest(size: 10))
            #expect(versions.items.map(\.version).sorted() == ["1.0", "2.0"])
        }
    }

    @Test(arguments: StoreUnderTest.allCases)
    func sessionsAndAgentTokens(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            let store = opened.store
            let fixture = try await StoreFixture.make(store)
            let admin = try #require(try await store.users(email: fixture.adminEmail).first)
            try await store.saveRefreshToken(hash: "refresh-1", userId: admin.id, expiresAt: Self.t0.addingTimeInterval(60))
            #expect(try await store.takeRefreshToken(hash: "refresh-1", now: Self.t0)?.id == admin.id)
            #expect(try await store.takeRefreshToken(hash: "refresh-1", now: Self.t0) == nil, "a refresh token works once")
            try await store.saveRefreshToken(hash: "refresh-2", userId: admin.id, expiresAt: Self.t0.addingTimeInterval(60))
            #expect(try await store.takeRefreshToken(hash: "refresh-2", now: Self.t0.addingTimeInterval(61)) == nil, "an expired one never")

            let instance = try #require(try await fixture.register(store, count: 1).first)
            #expect(try await store.agentSession(tokenHash: instance.tokenHash) == AgentSession(instanceId: instance.id, desiredGeneration: 1))
            #expect(try await store.agentSession(tokenHash: "unknown") == nil)
            try await store.deleteInstance(
                id: instance.id, serviceId: fixture.serviceId, environmentId: fixture.environmentId, organizationId: fixture.organizationId, now: Self.t0)
            #expect(try await store.agentSession(tokenHash: instance.tokenHash) == nil, "a deleted instance's token is gone")
        }
    }

    @Test(arguments: StoreUnderTest.allCases)
    func theFleetAndItsReports(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            let store = opened.store
            let fixture = try await StoreFixture.make(store)
            let instance = try #require(try await fixture.register(store, count: 1).first)
            await #expect(throws: SlipwayError.invalidState("service environment \(fixture.environmentId) already has an instance named 'node-0'; choose another name")) {
                try await store.registerInstance(
                    organizationId: fixture.organizationId, serviceId: fixture.serviceId, environmentId: fixture.environmentId,
                    productTierId: fixture.productTierId, name: "node-0", tierVersion: nil, labels: [:], agentTokenHash: "another", now: Self.t0)
            }
            let desired = try await store.desiredState(instanceId: instance.id)
            #expect(desired.tierVersion == "1.0" && desired.generation == 1)
            #expect(desired.images.map(\.imageReference) == ["docker.io/acme/app:1"])
            let results = try await store.recordReports(
                [
                    (instance.id, AgentReport(tierVersion: "9.9", status: .succeeded, message: nil, health: nil, generation: 1)),
                    (instance.id, AgentReport(tierVersion: "1.0", status: .succeeded, message: "ok", health: "healthy", generation: 1)),
                ], now: Self.t0)
            #expect(throws: SlipwayError.badRequest(
                "tierVersion '9.9' is not a version of product tier \(fixture.productTierId); report the version of the desired state")) { try results[0].get() }
            #expect(try results[1].get() == nil)
            let described = try await store.instance(
                id: instance.id, serviceId: fixture.serviceId, environmentId: fixture.environmentId, organizationId: fixture.organizationId)
            #expect(described.lastReportStatus == "SUCCEEDED" && described.health == "healthy")
        }
    }

    /// A wave's rows and desired versions are written a chunk of alike rows at a time (chunks padded by
    /// repeating an id): a wave of 587 (512 + 64 + 8 + 3) starts each instance exactly once.
    @Test(arguments: StoreUnderTest.allCases)
    func aWideWaveStartsEachInstanceOnce(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            let store = opened.store
            let fixture = try await StoreFixture.make(store)
            let instances = try await fixture.register(store, count: 590)
            try await fixture.ship(store, tag: "2")
            var policy = RolloutPolicy()
            policy.canaryCount = 3
            policy.maxConcurrentUpgrades = 587
            let rollout = try #require(try await store.createRollout(
                imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId, policy: policy,
                createdBy: "a", dryRun: false, clock: SlipwayClock { Self.t0 }).rollout)
            let (canary, _) = try await store.advanceRollout(id: rollout.id, now: Self.t0)
            #expect(canary.count == 3)
            for instance in instances where canary.contains(instance.id) {
                _ = try await store.recordReports([(instance.id, AgentReport(tierVersion: "2.0", status: .succeeded, message: nil, health: nil, generation: 2))], now: Self.t0)
            }
            let (wave, _) = try await store.advanceRollout(id: rollout.id, now: Self.t0)
            #expect(wave.count == 587 && Set(wave).isDisjoint(with: canary))
            let rows = try await StoreFixture.rows(store, rolloutId: rollout.id)
            let canaryWave = try #require(rows.first { canary.contains($0.instanceId) }).wave
            #expect(rows.filter { $0.status == .inProgress && $0.wave == canaryWave + 1 && $0.deadline == Self.t0.addingTimeInterval(600) }.count == 587)
            #expect(rows.filter { $0.status == .completed }.count == 3)
            for instance in instances {
                let session = try #require(try await store.agentSession(tokenHash: instance.tokenHash))
                #expect(session.desiredGeneration == 2, "each instance is told once: generation 1 at registration, 2 for the rollout")
                #expect(try await store.desiredState(instanceId: instance.id).tierVersion == "2.0")
            }
            let status = try await store.latestRollout(
                imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId)
            #expect(status.counts.inProgress == 587 && status.counts.completed == 3 && status.counts.pending == 0)
        }
    }

    /// A sliding window through the store: each report that frees a slot starts the next instance in plan order,
    /// the failure threshold stops new starts, and the halt waits for what is in flight.
    @Test(arguments: StoreUnderTest.allCases)
    func aWindowStartsTheNextInstanceAsOneFinishes(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            let store = opened.store
            let fixture = try await StoreFixture.make(store)
            let instances = try await fixture.register(store, count: 6).map(\.id)
            try await fixture.ship(store, tag: "2")
            var policy = RolloutPolicy()
            policy.strategy = .window
            policy.maxConcurrentUpgrades = 2
            policy.failureThreshold = 1
            let rollout = try #require(
                try await store.createRollout(
                    imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId, policy: policy,
                    createdBy: "a", dryRun: false, clock: SlipwayClock { Self.t0 }
                ).rollout)
            #expect(rollout.totalWaves == 1)
            #expect(rollout.message == "6 instance(s) to upgrade, up to 2 at a time, the next starting as soon as one finishes")
            var now = Self.t0
            func inFlight() async throws -> [String] {
                try await StoreFixture.rows(store, rolloutId: rollout.id).filter { $0.status == .inProgress }.map(\.instanceId)
            }
            func answer(_ instance: String, _ status: AgentReportStatus) async throws {
                now = now.addingTimeInterval(1)
                let desired = try await store.desiredState(instanceId: instance)
                let report = AgentReport(tierVersion: desired.tierVersion, status: status, message: nil, health: nil, generation: desired.generation)
                _ = try await store.recordReports([(instance, report)], now: now)
                try await StoreFixture.tick(store, now: now)
            }
            try await StoreFixture.tick(store, now: now)
            #expect(try await inFlight() == [instances[0], instances[1]])
            // The second finishes first: the third takes its slot while the first is still applying.
            try await answer(instances[1], .succeeded)
            #expect(try await inFlight() == [instances[0], instances[2]])
            try await answer(instances[2], .succeeded)
            #expect(try await inFlight() == [instances[0], instances[3]])
            let open = try await store.latestRollout(imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId)
            #expect(open.status == .running && open.currentWave == 0 && open.counts.completed == 2 && open.counts.pending == 2)
            #expect(open.message == "window open: up to 2 instance(s) upgrading at a time, 6 left to upgrade")
            // A failure stops new starts; the rollout halts once the other in flight has answered.
            try await answer(instances[3], .failed)
            #expect(try await inFlight() == [instances[0]])
            try await answer(instances[0], .succeeded)
            let halted = try await store.latestRollout(imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId)
            #expect(halted.status == .failed)
            #expect(halted.counts.completed == 3 && halted.counts.failed == 1 && halted.counts.skipped == 2)
            let desired = try await store.desiredState(instanceId: instances[5])
            #expect(desired.tierVersion == "1.0", "an instance the window never reached was not told to move")
        }
    }

    @Test(arguments: StoreUnderTest.allCases)
    func aRolloutDrivenByTheEngineCalls(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            var store = opened.store
            let fixture = try await StoreFixture.make(store)
            let ids = (config: fixture.imageConfigId, service: fixture.serviceId, org: fixture.organizationId)
            let instances = try await fixture.register(store, count: 3)
            var policy = RolloutPolicy()
            policy.maxConcurrentUpgrades = 2
            // Nothing released since the instances registered: nobody needs a change.
            let idle = try await store.createRollout(
                imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, policy: policy, createdBy: "a", dryRun: false, clock: SlipwayClock { Self.t0 })
            #expect(idle.rollout?.status == .complete)
            #expect(idle.rollout?.message == "no instance needs a change: 3 instance(s) already run the preferred image or cannot take it")

            try await fixture.ship(store, tag: "2")
            let plan = try await store.createRollout(
                imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, policy: policy, createdBy: "a", dryRun: true, clock: SlipwayClock { Self.t0 })
            #expect(plan.rollout == nil && plan.plan.waves == [[instances[0].id, instances[1].id], [instances[2].id]])
            let created = try await store.createRollout(
                imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, policy: policy, createdBy: "a", dryRun: false, clock: SlipwayClock { Self.t0 })
            let rollout = try #require(created.rollout)
            await #expect(throws: SlipwayError.self) {
                try await store.createRollout(
                    imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, policy: policy, createdBy: "a", dryRun: false, clock: SlipwayClock { Self.t0 })
            }
            #expect(try await store.activeRolloutIDs() == [rollout.id])
            let (changed, _) = try await store.advanceRollout(id: rollout.id, now: Self.t0)
            #expect(changed == [instances[0].id, instances[1].id])
            #expect(try await store.nextDeadline() == Self.t0.addingTimeInterval(600))

            // A restart between any two steps changes nothing.
            store = try await opened.reopen()
            for instance in instances.prefix(2) {
                let desired = try await store.desiredState(instanceId: instance.id)
                #expect(desired.tierVersion == "2.0" && desired.generation == 2)
                let report = AgentReport(tierVersion: "2.0", status: .succeeded, message: nil, health: nil, generation: 2)
                _ = try await store.recordReports([(instance.id, report)], now: Self.t0.addingTimeInterval(5))
            }
            _ = try await store.advanceRollout(id: rollout.id, now: Self.t0.addingTimeInterval(5))
            // The last one never reports: its deadline passes and the threshold halts the rollout.
            #expect(try await store.expireDeadlines(now: Self.t0.addingTimeInterval(700)) == [rollout.id])
            _ = try await store.advanceRollout(id: rollout.id, now: Self.t0.addingTimeInterval(700))
            let halted = try await store.latestRollout(imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org)
            #expect(halted.status == .failed)
            #expect((halted.counts.completed, halted.counts.failed, halted.counts.total) == (2, 1, 3))
            #expect(halted.message == "failed: 1 instance(s) failed, reaching the failure threshold of 1; 2 upgraded instance(s) stay on the target version (autoRollback is off)")
            let rows = try await StoreFixture.rows(store, rolloutId: rollout.id)
            #expect(rows.map(\.status) == [.completed, .completed, .failed])
            #expect(rows[2].reason == "no successful report within 600 s (instanceTimeoutSeconds)")
            #expect(try await store.activeRolloutIDs().isEmpty)
            #expect(try await store.fleetSummary() == FleetSummary(instances: 3, rolloutsByStatus: [.complete: 1, .failed: 1]))
        }
    }

    /// A plan larger than one transaction is written PLANNING, a bounded chunk at a time: between chunks other
    /// writes go through, nobody sees the rollout (nor can start another of the config), instances deleted
    /// meanwhile leave it with its counts, and it becomes PENDING for the engine when the last chunk is in.
    @Test(arguments: StoreUnderTest.allCases)
    func aLargePlanIsWrittenInChunksBetweenOtherWrites(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            let store = opened.store
            let sql = try #require(store as? SQLStore)
            let fixture = try await StoreFixture.make(store)
            let ids = (config: fixture.imageConfigId, service: fixture.serviceId, org: fixture.organizationId)
            let instances = try await fixture.register(store, count: 50)
            try await fixture.ship(store, tag: "2")
            let policy = {
                var policy = RolloutPolicy()
                policy.maxConcurrentUpgrades = 10
                return policy
            }()
            let seen = Mutex<[Int]>([])
            sql.planChunking.withLock {
                $0.rowsPerTransaction = 8
                $0.afterEachChunk = { rolloutId, written in
                    seen.withLock { $0.append(written) }
                    guard written == 8 else { return }
                    // Half-way: the writer is free, and the rollout is nobody's business yet.
                    try await store.createService(
                        Service(id: Identifiers.new(.service), organizationId: ids.org, name: "meanwhile", description: "", createdAt: Self.t0))
                    #expect(try await store.activeRolloutIDs().isEmpty)
                    await expectError(.notFound, "image config \(ids.config) has never been rolled out; start with POST …/image-config/\(ids.config)/rollout") {
                        _ = try await store.latestRollout(imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org)
                    }
                    await expectError(.invalidState,
                        "rollout \(rolloutId) of image config \(ids.config) is still being planned (50 instances); it starts as soon as its plan is "
                            + "written. A plan whose server stopped is given up when slipwayd starts again, or after 120 s on a database "
                            + "shared by replicas")
                    {
                        _ = try await store.createRollout(
                            imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, policy: policy, createdBy: "b", dryRun: false,
                            clock: SlipwayClock { Self.t0 })
                    }
                    #expect(try await store.fleetSummary().rolloutsByStatus[.planning] == 1)
                    // The image config stays while its rollout is being planned, as while it runs.
                    await expectError(.invalidState,
                        "image config \(ids.config) has a rollout in progress (\(rolloutId)); let it finish or cancel it before deleting the image config")
                    {
                        try await store.deleteImageConfig(id: ids.config, serviceId: ids.service, organizationId: ids.org)
                    }
                    // One instance whose row is written and one whose row is not yet leave the fleet.
                    for gone in [instances[2].id, instances[40].id] {
                        try await store.deleteInstance(
                            id: gone, serviceId: ids.service, environmentId: fixture.environmentId, organizationId: ids.org, now: Self.t0)
                    }
                }
            }
            let created = try await store.createRollout(
                imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, policy: policy, createdBy: "a", dryRun: false,
                clock: SlipwayClock { Self.t0 })
            let rollout = try #require(created.rollout)
            #expect(seen.withLock { $0 } == [8, 16, 24, 32, 40, 48, 50])
            #expect(rollout.status == .pending)
            #expect((rollout.counts.total, rollout.counts.pending) == (48, 48))
            let rows = try await StoreFixture.rows(store, rolloutId: rollout.id)
            #expect(rows.count == 48 && !rows.contains { [instances[2].id, instances[40].id].contains($0.instanceId) })
            #expect(try await store.activeRolloutIDs() == [rollout.id])
            let (firstWave, _) = try await store.advanceRollout(id: rollout.id, now: Self.t0)
            #expect(firstWave == rows.filter { $0.wave == 0 }.map(\.instanceId))
            let status = try await store.latestRollout(imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org)
            #expect(status.status == .running && status.counts.inProgress == firstWave.count)
        }
    }

    /// A plan whose writing fails is discarded at once. One whose writer stalls is never discarded by its own
    /// process; another store on the database (the next slipwayd on SQLite, another replica on PostgreSQL once
    /// the plan is 120 s idle) discards it, the stalled writer is told so, and a new rollout starts.
    @Test(arguments: StoreUnderTest.allCases)
    func anAbandonedPlanIsDiscarded(_ kind: StoreUnderTest) async throws {
        try await withStore(kind) { opened in
            let store = opened.store
            let sql = try #require(store as? SQLStore)
            let fixture = try await StoreFixture.make(store)
            let ids = (config: fixture.imageConfigId, service: fixture.serviceId, org: fixture.organizationId)
            _ = try await fixture.register(store, count: 20)
            try await fixture.ship(store, tag: "2")
            let create = { @Sendable () async throws -> Rollout? in
                try await store.createRollout(
                    imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, policy: RolloutPolicy(), createdBy: "a", dryRun: false,
                    clock: SlipwayClock { Self.t0 }
                ).rollout
            }
            struct Interrupted: Error {}
            sql.planChunking.withLock {
                $0.rowsPerTransaction = 8
                $0.afterEachChunk = { _, written in if written == 16 { throw Interrupted() } }
            }
            await #expect(throws: Interrupted.self) { _ = try await create() }
            #expect(try await store.fleetSummary().rolloutsByStatus[.planning] == nil)

            let (stalled, release) = AsyncStream<Void>.makeStream()
            let (entered, enter) = AsyncStream<Void>.makeStream()
            sql.planChunking.withLock {
                $0.afterEachChunk = { _, written in
                    guard written == 8 else { return }
                    enter.yield()
                    for await _ in stalled { break }
                }
            }
            let writer = Task { try await create() }
            for await _ in entered { break }
            #expect(try await store.discardAbandonedPlans(now: Self.t0.addingTimeInterval(3600)) == 0)
            let next = try await opened.reopen()
            if kind == .postgres {
                #expect(try await next.discardAbandonedPlans(now: Self.t0.addingTimeInterval(120)) == 0)
            }
            #expect(try await next.discardAbandonedPlans(now: Self.t0.addingTimeInterval(121)) == 1)
            await (next as? SQLStore)?.close()
            #expect(try await store.fleetSummary().rolloutsByStatus[.planning] == nil)
            release.yield()
            do {
                _ = try await writer.value
                Issue.record("a writer whose plan was discarded must fail")
            } catch let error as SlipwayError {
                #expect(error.kind == .unavailable)
                #expect(error.message.hasPrefix("the plan of rollout ") && error.message.hasSuffix(" was given up while it was being written; start the rollout again"))
            }
            sql.planChunking.withLock { $0.afterEachChunk = nil }
            let rollout = try #require(try await create())
            #expect(rollout.status == .pending && rollout.counts.total == 20)
            #expect(try await StoreFixture.rows(store, rolloutId: rollout.id).count == 20)
        }
    }
}

/// Expects `body` to fail with exactly this kind and message.
func expectError(
    _ kind: SlipwayError.Kind, _ message: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(kind.rawValue): \(message)", sourceLocation: sourceLocation)
    } catch let error as SlipwayError {
        #expect(error.kind == kind, sourceLocation: sourceLocation)
        #expect(error.message == message, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(kind.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}
