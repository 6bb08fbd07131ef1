import Foundation
import PropertyBased
import SlipwayCore
import Testing

/// Generated histories of one rollout, driven through the real store: reports in any order, duplicated,
/// stale and failing; deadlines passing; pause, resume, cancel and retry at any point; instances deleted;
/// the store reopened mid-way. After every step the rollout must say what its rows say.
@Suite("Generated rollout histories")
struct RolloutHistoryTests {
    /// Histories per store; `SLIPWAY_HISTORIES` raises it for a longer hunt. PostgreSQL runs fewer by default
    /// (`SLIPWAY_POSTGRES_HISTORIES`): each step is a network round trip per query, and the rules are the same code.
    static func histories(_ kind: StoreUnderTest) -> Int {
        let environment = ProcessInfo.processInfo.environment
        switch kind {
        case .sqlite: return environment["SLIPWAY_HISTORIES"].flatMap(Int.init) ?? 2000
        case .postgres: return environment["SLIPWAY_POSTGRES_HISTORIES"].flatMap(Int.init) ?? 300
        }
    }
    /// Shards run in parallel, each on a database of its own.
    static let shards = [0, 1]

    @Test(arguments: StoreUnderTest.allCases, shards)
    func everyStepKeepsTheRules(_ kind: StoreUnderTest, shard: Int) async throws {
        // One database for all histories (each in an organization of its own): opening a fresh file per history
        // would cost more than the history.
        let opened = try await kind.makeEmpty()
        defer { opened.remove() }
        let box = StoreBox(opened)
        await propertyCheck(count: Self.histories(kind) / Self.shards.count, input: Gen.int(in: 0...10_000), Gen.int(in: 0...1_000_000).array(of: 1...40)) { setup, steps in
            // propertyCheck drops thrown errors: each one becomes an issue here, so it fails the history.
            do {
                try await History(setup: setup).run(steps, on: box)
            } catch {
                History.fail("history (setup \(setup), steps \(steps)) threw: \(error)")
            }
        }
    }

    /// One history written out: a failed instance deleted from a halted rollout once still counted as failed, so
    /// a retry with the default threshold halted again at once.
    @Test(arguments: StoreUnderTest.allCases)
    func aDeletedFailedInstanceLeavesTheCounts(_ kind: StoreUnderTest) async throws {
        // Setup 1: two instances, one at a time, threshold 1. Steps: tick (the first starts), it reports failure,
        // tick (halt: the second is skipped), delete the first, retry, tick.
        let opened = try await kind.makeEmpty()
        defer { opened.remove() }
        let settled = try await History(setup: 1).run([0, 4, 0, 8, 37, 0], on: StoreBox(opened))
        #expect(settled == .complete)
    }
}

/// The store the histories run on; a history may reopen it.
final class StoreBox: @unchecked Sendable {
    let opened: OpenedStore
    var store: AnyStore

    init(_ opened: OpenedStore) {
        self.opened = opened
        store = opened.store
    }
}

/// One generated history and the checks it must pass.
struct History {
    let policy: RolloutPolicy
    let instanceCount: Int

    init(setup: Int) {
        instanceCount = 1 + setup % 5
        var policy = RolloutPolicy()
        policy.maxConcurrentUpgrades = 1 + (setup / 5) % 3
        policy.canaryCount = (setup / 15) % 2
        policy.failureThreshold = 1 + (setup / 30) % 2
        policy.autoRollback = (setup / 60) % 2 == 1
        policy.bakeSeconds = (setup / 120) % 2 == 1 ? 3 : 0
        policy.strategy = (setup / 240) % 2 == 1 ? .window : .waves
        policy.instanceTimeoutSeconds = 10
        self.policy = policy
    }

    /// The state the checks compare against from one step to the next.
    struct Observed {
        var status: RolloutStatus?
        /// Each instance's last desired (generation, version).
        var desired: [String: (Int, String)] = [:]
        /// Desired versions sent since the last retry: none twice to the same instance.
        var sent: Set<String> = []
    }

    /// Runs the steps, then lets every agent answer; returns the status the rollout settled in.
    @discardableResult
    func run(_ steps: [Int], on opened: StoreBox) async throws -> RolloutStatus {
        let fixture = try await StoreFixture.make(opened.store)
        let instances = try await fixture.register(opened.store, count: instanceCount).map(\.id)
        try await fixture.ship(opened.store, tag: "2")
        var now = StoreFixture.t0
        let created = try await opened.store.createRollout(
            imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId, policy: policy,
            createdBy: fixture.adminEmail, dryRun: false, clock: SlipwayClock { [now] in now })
        let rolloutId = try #require(created.rollout?.id)
        var live = instances
        var observed = Observed()
        try await check(opened.store, fixture, rolloutId: rolloutId, instances: live, step: "created", retried: false, &observed)

        for (index, step) in steps.enumerated() {
            let store = opened.store
            let target = live.isEmpty ? nil : live[(step / 10) % live.count]
            var retried = false
            var description = ""
            now = now.addingTimeInterval(1)
            switch step % 10 {
            case 0, 1:
                description = "tick"
                try await StoreFixture.tick(store, now: now)
            case 2, 3:
                guard let target else { continue }
                description = "\(target) reports success"
                try await report(store, target, .succeeded, now: now)
            case 4:
                guard let target else { continue }
                description = "\(target) reports failure"
                try await report(store, target, .failed, now: now)
            case 5:
                guard let target else { continue }
                description = "\(target) reports late"
                try await report(store, target, .succeeded, stale: true, now: now)
            case 6:
                description = "deadlines pass"
                now = now.addingTimeInterval(TimeInterval(policy.instanceTimeoutSeconds + 1))
                try await StoreFixture.tick(store, now: now)
            case 7:
                let ids = (fixture.imageConfigId, fixture.serviceId, fixture.organizationId)
                do {
                    switch (step / 10) % 4 {
                    case 0:
                        description = "pause"
                        _ = try await store.pauseRollout(imageConfigId: ids.0, serviceId: ids.1, organizationId: ids.2, now: now)
                    case 1:
                        description = "resume"
                        _ = try await store.resumeRollout(imageConfigId: ids.0, serviceId: ids.1, organizationId: ids.2, now: now)
                    case 2:
                        description = "cancel"
                        _ = try await store.cancelRollout(imageConfigId: ids.0, serviceId: ids.1, organizationId: ids.2, now: now)
                    default:
                        description = "retry"
                        _ = try await store.retryRollout(imageConfigId: ids.0, serviceId: ids.1, organizationId: ids.2, now: now)
                        retried = true
                    }
                } catch let error as SlipwayError where error.kind == .invalidState {
                    description += " (refused)"
                }
            case 8:
                guard let target else { continue }
                description = "delete \(target)"
                do {
                    try await store.deleteInstance(
                        id: target, serviceId: fixture.serviceId, environmentId: fixture.environmentId, organizationId: fixture.organizationId, now: now)
                    live.removeAll { $0 == target }
                } catch let error as SlipwayError where error.kind == .invalidState {
                    description += " (refused: held)"
                }
            default:
                description = "reopen the store"
                opened.store = try await opened.opened.reopen()
            }
            try await check(opened.store, fixture, rolloutId: rolloutId, instances: live, step: "step \(index): \(description)", retried: retried, &observed)
        }

        // Every agent answers from now on: the rollout settles.
        let store = opened.store
        if try await store.latestRollout(imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId)
            .status == .paused
        {
            _ = try await store.resumeRollout(
                imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId, now: now)
        }
        for _ in 0..<200 {
            let rollout = try await store.latestRollout(
                imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId)
            if !rollout.isActive { return rollout.status }
            now = now.addingTimeInterval(1)
            // Every agent at once, as one batch of the report batcher (the first also says it is applying first).
            var batch: [(instanceId: String, report: AgentReport)] = []
            for instance in live {
                let desired = try await store.desiredState(instanceId: instance)
                let succeeded = AgentReport(tierVersion: desired.tierVersion, status: .succeeded, message: nil, health: nil, generation: desired.generation)
                if batch.isEmpty {
                    var applying = succeeded
                    applying.status = .applying
                    batch.append((instance, applying))
                }
                batch.append((instance, succeeded))
            }
            _ = try await store.recordReports(batch, now: now)
            try await StoreFixture.tick(store, now: now)
            try await check(store, fixture, rolloutId: rolloutId, instances: live, step: "settling", retried: false, &observed)
        }
        History.fail("the rollout did not settle although every agent answered")
        return try await store.latestRollout(imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId)
            .status
    }

    /// An agent's report on its desired state: about the current generation, or (stale) the one before.
    func report(_ store: AnyStore, _ instanceId: String, _ status: AgentReportStatus, stale: Bool = false, now: Date) async throws {
        let desired = try await store.desiredState(instanceId: instanceId)
        let report = AgentReport(
            tierVersion: desired.tierVersion, status: status, message: status == .failed ? "exit 3" : nil, health: nil,
            generation: stale ? desired.generation - 1 : desired.generation)
        _ = try await store.recordReports([(instanceId, report)], now: now)
    }

    /// The rules every step must keep.
    func check(
        _ store: AnyStore, _ fixture: StoreFixture, rolloutId: String, instances: [String], step: String, retried: Bool,
        _ observed: inout Observed
    ) async throws {
        let rollout = try await store.latestRollout(
            imageConfigId: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId)
        History.verify(rollout.id == rolloutId, "\(step): the latest rollout")
        let rows = try await StoreFixture.rows(store, rolloutId: rolloutId)

        // The counters say what the rows say.
        History.verify(rollout.counts == RolloutCounts(counting: rows), "\(step): counts \(rollout.counts) vs rows \(rows.map(\.status))")
        // Never more in flight than a wave or the window holds.
        let widest = max(rollout.policy.maxConcurrentUpgrades, rollout.policy.canaryCount)
        History.verify(rollout.counts.inProgress <= widest, "\(step): \(rollout.counts.inProgress) in flight, more than \(widest)")
        // Terminal statuses stay terminal: COMPLETE for good; FAILED and CANCELLED until a retry.
        if let before = observed.status {
            if before == .complete { History.verify(rollout.status == .complete, "\(step): COMPLETE became \(rollout.status)") }
            if [.failed, .cancelled].contains(before) && !retried {
                History.verify(rollout.status == before, "\(step): \(before) became \(rollout.status) without a retry")
            }
        }
        // A halted rollout with autoRollback leaves no upgraded instance on the target.
        if rollout.status == .failed && rollout.policy.autoRollback {
            History.verify(!rows.contains { $0.status == .completed }, "\(step): a halted rollout kept upgraded instances: \(rows.map(\.status))")
        }
        // No instance is sent the same version twice between retries.
        if retried { observed.sent = [] }
        let listed = try await store.instances(
            serviceId: fixture.serviceId, environmentId: fixture.environmentId, organizationId: fixture.organizationId, filter: InstanceFilter(),
            page: PageRequest(size: 100))
        History.verify(listed.items.map(\.id) == instances, "\(step): the instances")
        for instance in listed.items {
            if let (generation, _) = observed.desired[instance.id], instance.desiredGeneration > generation {
                let key = "\(instance.id)→\(instance.desiredVersion)"
                History.verify(!observed.sent.contains(key), "\(step): \(instance.id) was sent \(instance.desiredVersion) twice")
                observed.sent.insert(key)
            }
            observed.desired[instance.id] = (instance.desiredGeneration, instance.desiredVersion)
        }
        observed.status = rollout.status
    }

    /// Records a broken rule, and prints it too: the property checker re-runs a failing history quietly, and a
    /// failure that depends on more than the history's input would otherwise leave no trace.
    static func verify(_ holds: Bool, _ message: @autoclosure () -> String) {
        if !holds { fail(message()) }
    }

    static func fail(_ message: String) {
        FileHandle.standardError.write(Data("rollout history: \(message)\n".utf8))
        Issue.record(Comment(rawValue: message))
    }
}
