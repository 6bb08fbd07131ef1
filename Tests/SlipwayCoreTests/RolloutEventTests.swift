import Foundation
import SlipwayCore
import Testing

/// The rollout rules event by event, without a database: what each event does to the rows, the counts,
/// the desired versions and the message.
@Suite("Rollout events")
struct RolloutEventTests {
    static let t0 = Date(timeIntervalSince1970: 1_000_000)

    static func instance(_ n: Int, version: String = "1.0") -> Instance {
        Instance(
            id: "inst-\(n)", organizationId: "org-x", serviceId: "s-x", serviceEnvironmentId: "se-x", productTierId: "pt-x", name: "node-\(n)",
            currentVersion: version, desiredVersion: version, desiredGeneration: 1, createdAt: t0)
    }

    static let config = ImageConfig(
        id: "imgc-x", serviceId: "s-x", serviceEnvironmentId: "se-x",
        spec: ImageSpec(description: "app", imageName: "acme/app", imageTag: "2", imageRegistryId: "ir-x", publicKeyPEM: nil, commands: nil, args: nil),
        revision: 2, createdAt: t0, updatedAt: t0)

    /// A rollout of `count` instances from 1.0 to 2.0, created and started, with its rows as a store would keep them.
    struct Run {
        var machine: RolloutStateMachine
        var rows: [String: RolloutInstance] = [:]
        var desired: [String: String] = [:]
        var current: [String: String] = [:]

        init(instances count: Int, policy: RolloutPolicy) {
            let instances = (0..<count).map { RolloutEventTests.instance($0) }
            let plan = RolloutPlan(
                imageConfigId: "imgc-x", policy: policy,
                eligible: instances.map { RolloutCandidate(instance: $0, sourceImage: "a:1", targetImage: "a:2", targetVersion: "2.0", ineligibleReason: nil) },
                ineligible: [])
            machine = .create(id: "up-x", plan: plan, config: RolloutEventTests.config, organizationId: "org-x", createdBy: "a@b.c", now: t0)
            for instance in instances {
                desired[instance.id] = "1.0"
                current[instance.id] = "1.0"
            }
            apply()
        }

        mutating func apply() {
            let effects = machine.takeEffects()
            for row in effects.rows { rows[row.instanceId] = row }
            for id in effects.removedInstanceIds { rows[id] = nil }
            for change in effects.desiredVersions { desired[change.instanceId] = change.version }
        }

        func members(wave: Int? = nil) -> [RolloutStateMachine.Member] {
            rows.values.sorted { $0.instanceId < $1.instanceId }
                .filter { wave == nil || ($0.wave == wave && $0.status == .pending) }
                .map { .init(row: $0, currentVersion: current[$0.instanceId]!, desiredVersion: desired[$0.instanceId]!) }
        }

        func rows(_ status: RolloutInstanceStatus) -> [RolloutInstance] {
            rows.values.filter { $0.status == status }.sorted { $0.instanceId < $1.instanceId }
        }

        /// Runs the engine's steps until it waits, as a store's loop would.
        mutating func advance(now: Date = RolloutEventTests.t0) {
            for _ in 0..<machine.stepLimit {
                let action = machine.next(now: now, dependencyLive: false)
                switch action {
                case .wait, .waitForDependency: return
                case .startWave(let wave): machine.startWave(wave, members: members(wave: wave), now: now)
                case .halt: machine.halt(pending: rows(.pending), completed: rows(.completed), now: now)
                case .fillWindow(let slots): machine.fillWindow(slots, members: members(wave: machine.rollout.windowWave), now: now)
                case .cancelPausedTooLong: machine.cancelPausedTooLong(pending: rows(.pending), now: now)
                case .awaitWindow, .awaitAnalysis:
                    machine.perform(action, now: now)
                    apply()
                    return
                default: machine.perform(action, now: now)
                }
                apply()
                if case .bake = action { return }
            }
            Issue.record("no wait within the step limit")
        }

        mutating func report(_ n: Int, _ status: AgentReportStatus, version: String? = nil, now: Date = RolloutEventTests.t0) -> Bool {
            let id = "inst-\(n)"
            let version = version ?? desired[id]!
            if status == .succeeded { current[id] = version }
            let work = machine.report(
                AgentReport(tierVersion: version, status: status, message: "exit 3", health: nil, generation: nil), on: rows[id]!, desiredGeneration: 1,
                now: now)
            apply()
            return work
        }

        var countsMatchRows: Bool { machine.rollout.counts == RolloutCounts(counting: rows.values) }
    }

    static func policy(_ change: (inout RolloutPolicy) -> Void) -> RolloutPolicy {
        var policy = RolloutPolicy()
        change(&policy)
        return policy
    }

    @Test func aReportFinishesTheWaveAndTheEngineCompletes() {
        var run = Run(instances: 3, policy: Self.policy { $0.maxConcurrentUpgrades = 2 })
        #expect(run.machine.rollout.message == "3 instance(s) to upgrade in 2 wave(s)")
        run.advance()
        #expect(run.machine.rollout.message == "wave 1 of 2: 2 instance(s) upgrading")
        #expect(run.desired == ["inst-0": "2.0", "inst-1": "2.0", "inst-2": "1.0"])
        #expect(run.report(0, .succeeded) == false, "one of the wave is still in flight")
        #expect(run.report(1, .succeeded) == true)
        run.advance()
        #expect(run.report(2, .succeeded) == true)
        run.advance()
        #expect(run.machine.rollout.status == .complete)
        #expect(run.machine.rollout.message == "complete: 3 instance(s) upgraded to 2.0")
        #expect(run.countsMatchRows)
    }

    @Test func reportsAboutAnotherVersionOrAnOlderGenerationChangeNothing() {
        var run = Run(instances: 1, policy: RolloutPolicy())
        run.advance()
        #expect(run.report(0, .succeeded, version: "1.0") == false)
        let stale = run.machine.report(
            AgentReport(tierVersion: "2.0", status: .succeeded, message: nil, health: nil, generation: 1), on: run.rows["inst-0"]!, desiredGeneration: 2,
            now: Self.t0)
        #expect(stale == false)
        #expect(run.machine.takeEffects().isEmpty)
        #expect(run.rows["inst-0"]?.status == .inProgress)
    }

    @Test func aHaltRollsBackAndTheMessageSaysHowItWent() {
        var run = Run(instances: 4, policy: Self.policy { $0.maxConcurrentUpgrades = 3; $0.autoRollback = true })
        run.advance()
        _ = run.report(0, .succeeded)
        _ = run.report(1, .failed)
        _ = run.report(2, .succeeded)
        run.advance()
        #expect(run.machine.rollout.status == .failed)
        #expect(run.machine.rollout.rollback == .running)
        #expect(run.desired["inst-0"] == "1.0" && run.desired["inst-2"] == "1.0", "sent back")
        #expect(run.rows["inst-3"]?.reason == "the rollout halted at its failure threshold before this instance started")
        #expect(run.machine.rollout.message
            == "failed: 1 instance(s) failed, reaching the failure threshold of 1; 1 instance(s) were not started; rolling back 2 upgraded instance(s) to their source version")
        _ = run.report(0, .succeeded, version: "1.0")
        run.machine.deadlinePassed(run.rows["inst-2"]!, now: Self.t0.addingTimeInterval(601))
        run.apply()
        #expect(run.rows["inst-2"]?.reason == "rollback failed: no report within 600 s")
        run.advance()
        #expect(run.machine.rollout.rollback == .done)
        #expect(run.machine.rollout.message.hasSuffix("; rolled back 2 upgraded instance(s) to their source version (1 rollback(s) failed)"))
        #expect(run.machine.rollout.counts.rollbackFailed == 1)
        #expect(run.countsMatchRows)
    }

    @Test func retryCountsFromTheRowsAndRerunsOnlyWhatIsLeft() throws {
        var run = Run(instances: 4, policy: Self.policy { $0.maxConcurrentUpgrades = 2; $0.instanceTimeoutSeconds = 10 })
        run.advance()
        _ = run.report(0, .failed)
        run.machine.deadlinePassed(run.rows["inst-1"]!, now: Self.t0.addingTimeInterval(11))
        run.apply()
        run.advance()
        #expect(run.machine.rollout.status == .failed)
        #expect(run.machine.rollout.counts.failed == 2)
        // The timed-out instance got there late; the failed one is deleted.
        run.current["inst-1"] = "2.0"
        run.machine.instanceDeleted(run.rows["inst-0"]!, now: Self.t0)
        run.apply()
        #expect(run.machine.rollout.counts.failed == 1 && run.machine.rollout.counts.total == 3)
        try run.machine.retry(members: run.members(), now: Self.t0)
        run.apply()
        #expect(run.machine.rollout.message == "retrying 2 instance(s) that did not reach their target; 1 found running their target already count as completed")
        #expect(run.rows["inst-1"]?.status == .completed)
        #expect(run.machine.rollout.counts.failed == 0)
        run.advance()
        _ = run.report(2, .succeeded)
        _ = run.report(3, .succeeded)
        run.advance()
        #expect(run.machine.rollout.status == .complete)
        #expect(run.machine.rollout.counts.completed == 3)
        #expect(run.countsMatchRows)
    }

    @Test func operatorsAreRefusedOutsideTheirStates() throws {
        var run = Run(instances: 2, policy: RolloutPolicy())
        #expect(throws: SlipwayError.invalidState("rollout up-x is PENDING; only a PAUSED rollout can be resumed")) {
            try run.machine.resume(now: Self.t0)
        }
        #expect(throws: SlipwayError.invalidState("rollout up-x is PENDING; only a FAILED or CANCELLED rollout that has settled can be retried")) {
            try run.machine.retry(members: [], now: Self.t0)
        }
        try run.machine.cancel(pending: run.rows(.pending), now: Self.t0)
        run.apply()
        #expect(run.machine.rollout.message == "cancelled: 2 instance(s) were not started; 0 in flight finish on their own")
        #expect(throws: SlipwayError.invalidState("rollout up-x is already CANCELLED; only a live rollout can be cancelled")) {
            try run.machine.cancel(pending: [], now: Self.t0)
        }
        #expect(throws: SlipwayError.invalidState("rollout up-x is CANCELLED; only a SCHEDULED, PENDING or RUNNING rollout can be paused")) {
            try run.machine.pause(now: Self.t0)
        }
    }

    @Test func thePlannerSaysWhoMovesAndWhyNot() throws {
        let snapshot = { (tag: String) in
            ImageConfigSnapshot(
                imageConfigId: "imgc-x", revision: 1,
                spec: ImageSpec(description: "", imageName: "acme/app", imageTag: tag, imageRegistryId: "ir-x", publicKeyPEM: nil, commands: nil, args: nil),
                registryHost: "docker.io")
        }
        var other = Self.instance(3)
        other.productTierId = "pt-other"
        let instances = [Self.instance(0), Self.instance(1, version: "2.0"), other]
        let plan = try RolloutPlanner.plan(
            config: Self.config, policy: RolloutPolicy(), instances: instances, preferredVersions: ["pt-x": "2.0"],
            snapshots: [.init(productTierId: "pt-x", version: "1.0"): snapshot("1"), .init(productTierId: "pt-x", version: "2.0"): snapshot("2")])
        #expect(plan.eligible.map(\.instance.id) == ["inst-0"])
        #expect(plan.eligible[0].targetImage == "docker.io/acme/app:2")
        #expect(plan.ineligible.map(\.ineligibleReason) == [
            "already runs docker.io/acme/app:2 (version 2.0)", "product tier pt-other has no released version",
        ])
    }
}
