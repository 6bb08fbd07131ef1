import Foundation
import SlipwayCore
import Testing

@Suite("The rollout state machine, decision by decision")
struct RolloutStateMachineTests {
    static let now = Date(timeIntervalSince1970: 1_000_000)

    static func rollout(
        _ status: RolloutStatus, pending: Int = 0, inProgress: Int = 0, completed: Int = 0, failed: Int = 0, wave: Int = -1,
        bakeSeconds: Int = 0, bakeUntil: Date? = nil, threshold: Int = 1, rollback: RollbackState = .none, rollingBack: Int = 0,
        strategy: RolloutStrategy = .waves, maxConcurrent: Int = 10, totalWaves: Int = 3
    ) -> Rollout {
        var policy = RolloutPolicy()
        policy.strategy = strategy
        policy.maxConcurrentUpgrades = maxConcurrent
        policy.bakeSeconds = bakeSeconds
        policy.failureThreshold = threshold
        var counts = RolloutCounts()
        counts.pending = pending
        counts.inProgress = inProgress
        counts.completed = completed
        counts.failed = failed
        counts.rollingBack = rollingBack
        counts.total = pending + inProgress + completed + failed
        return Rollout(
            id: "up-x", organizationId: "org-x", serviceId: "s-x", serviceEnvironmentId: "se-x", imageConfigId: "imgc-x", status: status,
            policy: policy, counts: counts, currentWave: wave, totalWaves: totalWaves, bakeUntil: bakeUntil, rollback: rollback, sourceVersions: [],
            targetVersions: [], message: "", createdBy: "a@b.c", createdAt: now, startedAt: nil, updatedAt: now, finishedAt: nil,
            completedSeconds: 0)
    }

    func next(_ rollout: Rollout, dependencyLive: Bool = false) -> RolloutStateMachine.Action {
        RolloutStateMachine(rollout).next(now: Self.now, dependencyLive: dependencyLive)
    }

    @Test func startsAndWaitsForDependencies() {
        #expect(next(Self.rollout(.pending, pending: 3)) == .start)
        #expect(next(Self.rollout(.pendingDependency, pending: 3), dependencyLive: true) == .waitForDependency)
        #expect(next(Self.rollout(.pendingDependency, pending: 3), dependencyLive: false) == .start)
    }

    @Test func wavesAreStrict() {
        #expect(next(Self.rollout(.running, pending: 6)) == .startWave(0))
        #expect(next(Self.rollout(.running, pending: 3, inProgress: 3, wave: 0)) == .wait(until: nil))
        #expect(next(Self.rollout(.running, pending: 3, completed: 3, wave: 0)) == .startWave(1))
        #expect(next(Self.rollout(.running, completed: 6, wave: 1)) == .complete)
    }

    @Test func failureThresholdHaltsOnlyWhenNothingIsInFlight() {
        #expect(next(Self.rollout(.running, pending: 2, inProgress: 1, failed: 1, wave: 0)) == .wait(until: nil))
        #expect(next(Self.rollout(.running, pending: 2, completed: 1, failed: 1, wave: 0)) == .halt)
        #expect(next(Self.rollout(.running, pending: 2, completed: 1, failed: 1, wave: 0, threshold: 2)) == .startWave(1))
        // A failed last wave still halts rather than completing.
        #expect(next(Self.rollout(.running, completed: 5, failed: 1, wave: 2)) == .halt)
    }

    @Test func bakesBetweenWavesButNotBeforeTheFirst() {
        #expect(next(Self.rollout(.running, pending: 4, bakeSeconds: 30)) == .startWave(0))
        let until = Self.now.addingTimeInterval(30)
        #expect(next(Self.rollout(.running, pending: 2, completed: 2, wave: 0, bakeSeconds: 30)) == .bake(until: until))
        #expect(next(Self.rollout(.running, pending: 2, completed: 2, wave: 0, bakeSeconds: 30, bakeUntil: until)) == .wait(until: until))
        let past = Self.now.addingTimeInterval(-1)
        #expect(next(Self.rollout(.running, pending: 2, completed: 2, wave: 0, bakeSeconds: 30, bakeUntil: past)) == .startWave(1))
    }

    @Test func pausedAndFinishedRolloutsWait() {
        for status in [RolloutStatus.complete, .cancelled] {
            #expect(next(Self.rollout(status, pending: 2, wave: 0)) == .wait(until: nil))
        }
        // A paused one waits until its pause times out.
        #expect(next(Self.rollout(.paused, pending: 2, wave: 0)) == .wait(until: Self.now.addingTimeInterval(86_400)))
        #expect(next(Self.rollout(.failed, failed: 1, rollback: .running, rollingBack: 2)) == .wait(until: nil))
        #expect(next(Self.rollout(.failed, failed: 1, rollback: .running, rollingBack: 0)) == .finishRollback)
        #expect(next(Self.rollout(.failed, failed: 1, rollback: .done)) == .wait(until: nil))
    }

    /// A large plan is held PLANNING while its rows are written: nothing drives it, nothing else of its
    /// image config starts, and only a plan nobody writes any more is given up.
    @Test func aPlanBeingWrittenHoldsItsImageConfig() throws {
        var machine = RolloutStateMachine(Self.rollout(.pending, pending: 3))
        machine.holdWhilePlanning()
        #expect(machine.rollout.status == .planning && !machine.rollout.isActive)
        #expect(machine.next(now: Self.now, dependencyLive: false) == .wait(until: nil))

        let row = RolloutInstance(
            rolloutId: "up-x", instanceId: "instance-gone", instanceName: "gone", wave: 0, sourceVersion: "1.0", targetVersion: "2.0",
            status: .pending, startedAt: nil, endedAt: nil, outcome: nil)
        machine.plannedInstancesVanished([row], now: Self.now)
        #expect(machine.rollout.counts.total == 2 && machine.rollout.counts.pending == 2)

        do {
            try RolloutStateMachine.checkCanStart(imageConfigId: "imgc-x", released: true, latest: machine.rollout)
            Issue.record("a plan being written must hold its image config")
        } catch let error as SlipwayError {
            #expect(error.kind == .invalidState)
            #expect(
                error.message
                    == "rollout up-x of image config imgc-x is still being planned (2 instances); it starts as soon as its plan is written. "
                    + "A plan whose server stopped is given up when slipwayd starts again, or after 120 s on a database shared by replicas")
        }

        let later = Self.now.addingTimeInterval(5)
        try machine.planWritten(now: later)
        #expect(machine.rollout.status == .pending && machine.rollout.updatedAt == later)
        #expect(machine.next(now: later, dependencyLive: false) == .start)
        #expect(throws: SlipwayError.self) { try machine.planWritten(now: later) }
    }

    @Test func onlyAPlanNobodyWritesIsAbandoned() {
        let plan = Self.rollout(.planning, pending: 3)
        let idle = RolloutStateMachine.planAbandonedAfter
        func abandoned(_ rollout: Rollout, after seconds: TimeInterval, here: Bool, shared: Bool) -> Bool {
            RolloutStateMachine.isAbandonedPlan(rollout, now: Self.now.addingTimeInterval(seconds), writtenHere: here, sharedDatabase: shared)
        }
        // Its writer is this process: never, however long a chunk takes.
        #expect(!abandoned(plan, after: 10 * idle, here: true, shared: false))
        #expect(!abandoned(plan, after: 10 * idle, here: true, shared: true))
        // A file only this process opens: any other plan's writer is gone.
        #expect(abandoned(plan, after: 0, here: false, shared: false))
        // A shared database: another replica may be writing it, until it goes quiet.
        #expect(!abandoned(plan, after: idle, here: false, shared: true))
        #expect(abandoned(plan, after: idle + 1, here: false, shared: true))
        // A rollout past planning is never a plan to discard.
        #expect(!abandoned(Self.rollout(.pending, pending: 3), after: 10 * idle, here: false, shared: false))
    }

    /// The window: after the canary wave (strict, then baked), a free slot takes the next instance at once.
    @Test func aWindowKeepsItsSlotsFull() {
        func window(
            _ status: RolloutStatus = .running, pending: Int = 0, inProgress: Int = 0, completed: Int = 0, failed: Int = 0, wave: Int,
            canary: Bool = false, bakeSeconds: Int = 0, bakeUntil: Date? = nil, threshold: Int = 1
        ) -> Rollout {
            Self.rollout(
                status, pending: pending, inProgress: inProgress, completed: completed, failed: failed, wave: wave, bakeSeconds: bakeSeconds,
                bakeUntil: bakeUntil, threshold: threshold, strategy: .window, maxConcurrent: 4, totalWaves: canary ? 2 : 1)
        }
        // Without a canary the window opens at once, with every slot.
        #expect(next(window(pending: 10, wave: -1)) == .fillWindow(4))
        // Open: whatever is free is filled, whatever else is in flight.
        #expect(next(window(pending: 6, inProgress: 3, completed: 1, wave: 0)) == .fillWindow(1))
        #expect(next(window(pending: 6, inProgress: 4, wave: 0)) == .wait(until: nil))
        // At the threshold nothing new starts; the halt waits for what is in flight, as between waves.
        #expect(next(window(pending: 5, inProgress: 2, completed: 2, failed: 1, wave: 0)) == .wait(until: nil))
        #expect(next(window(pending: 5, completed: 4, failed: 1, wave: 0)) == .halt)
        #expect(next(window(pending: 5, inProgress: 1, completed: 3, failed: 1, wave: 0, threshold: 2)) == .fillWindow(3))
        // The last instances drain before it completes.
        #expect(next(window(inProgress: 2, completed: 8, wave: 0)) == .wait(until: nil))
        #expect(next(window(completed: 10, wave: 0)) == .complete)
        // A canary wave is strict and baked; the window opens after it.
        #expect(next(window(pending: 10, wave: -1, canary: true)) == .startWave(0))
        #expect(next(window(pending: 9, inProgress: 1, wave: 0, canary: true)) == .wait(until: nil))
        let until = Self.now.addingTimeInterval(30)
        #expect(next(window(pending: 9, completed: 1, wave: 0, canary: true, bakeSeconds: 30)) == .bake(until: until))
        #expect(next(window(pending: 9, completed: 1, wave: 0, canary: true, bakeSeconds: 30, bakeUntil: until)) == .wait(until: until))
        #expect(next(window(pending: 9, completed: 1, wave: 0, canary: true)) == .fillWindow(4))
        // The bake is the canary's only: an open window never bakes.
        #expect(next(window(pending: 5, inProgress: 1, completed: 4, wave: 1, canary: true, bakeSeconds: 30)) == .fillWindow(3))
        // Paused or cancelled, it waits like waves do.
        #expect(next(window(.paused, pending: 6, inProgress: 1, wave: 0)) == .wait(until: Self.now.addingTimeInterval(86_400)))
        #expect(next(window(.cancelled, inProgress: 1, wave: 0)) == .wait(until: nil))
    }

    @Test func fillingTheWindowStartsInPlanOrderAndSkipsWhatIsThere() {
        var rollout = Self.rollout(.running, pending: 4, inProgress: 1, wave: 0, strategy: .window, maxConcurrent: 3, totalWaves: 1)
        rollout.currentWave = -1
        var machine = RolloutStateMachine(rollout)
        func member(_ n: Int, atTarget: Bool = false) -> RolloutStateMachine.Member {
            let row = RolloutInstance(
                rolloutId: "up-x", instanceId: "instance-\(n)", instanceName: "i\(n)", wave: 0, sourceVersion: "1.0", targetVersion: "2.0",
                status: .pending, startedAt: nil, endedAt: nil, outcome: nil)
            return .init(row: row, currentVersion: atTarget ? "2.0" : "1.0", desiredVersion: atTarget ? "2.0" : "1.0")
        }
        machine.fillWindow(2, members: [member(1), member(2, atTarget: true), member(3), member(4)], now: Self.now)
        let effects = machine.takeEffects()
        #expect(effects.desiredVersions.map(\.instanceId) == ["instance-1", "instance-3"])
        #expect(effects.rows.map(\.status) == [.inProgress, .skipped, .inProgress])
        #expect(machine.rollout.counts.inProgress == 3 && machine.rollout.counts.pending == 1 && machine.rollout.counts.skipped == 1)
        #expect(machine.rollout.currentWave == 0 && machine.rollout.isSlidingWindow)
        #expect(machine.rollout.message == "window open: up to 3 instance(s) upgrading at a time, 4 left to upgrade")
        #expect(machine.rollout.estimatedSecondsRemaining() == nil)

        // In an open window, an instance finishing gives the engine work once a twentieth of the window is free
        // (one slot here); between waves only the last does.
        let started = effects.rows[0]
        let succeeded = AgentReport(tierVersion: "2.0", status: .succeeded, message: nil, health: nil, generation: nil)
        let slotFreed = machine.report(succeeded, on: started, desiredGeneration: 2, now: Self.now)
        #expect(slotFreed)
        var waves = RolloutStateMachine(Self.rollout(.running, pending: 2, inProgress: 2, wave: 0))
        let waveDone = waves.report(succeeded, on: started, desiredGeneration: 2, now: Self.now)
        #expect(!waveDone)

        var wide = Self.rollout(.running, pending: 50, inProgress: 100, wave: 0, strategy: .window, maxConcurrent: 100, totalWaves: 1)
        wide.counts.total = 150
        var refill = RolloutStateMachine(wide)
        #expect(RolloutStateMachine.windowRefill(wide.policy) == 5)
        let freed = (0..<5).map { _ in refill.report(succeeded, on: started, desiredGeneration: 2, now: Self.now) }
        #expect(freed == [false, false, false, false, true])
    }

    @Test func aWindowPolicyPlansOneWaveAfterTheCanary() {
        var policy = RolloutPolicy()
        policy.strategy = .window
        policy.maxConcurrentUpgrades = 2
        #expect((0..<5).map(policy.wave(ofInstanceAt:)) == [0, 0, 0, 0, 0])
        #expect(policy.waveCount(instances: 5) == 1)
        policy.canaryCount = 2
        #expect((0..<5).map(policy.wave(ofInstanceAt:)) == [0, 0, 1, 1, 1])
        #expect(policy.waveCount(instances: 5) == 2)
        #expect(policy.waveCount(instances: 2) == 1)
        // A policy stored before strategies existed decodes as waves.
        let stored = #"{"maxConcurrentUpgrades":3,"canaryCount":0,"failureThreshold":1,"instanceTimeoutSeconds":600,"bakeSeconds":0,"autoRollback":false}"#
        let decoded = try? JSONDecoder().decode(RolloutPolicy.self, from: Data(stored.utf8))
        #expect(decoded?.strategy == .waves && decoded?.maxConcurrentUpgrades == 3)
    }

    @Test func aWindowEstimatesTheTimeLeftBySlots() {
        var rollout = Self.rollout(.running, pending: 16, inProgress: 4, completed: 10, wave: 0, strategy: .window, maxConcurrent: 4, totalWaves: 1)
        rollout.completedSeconds = 20  // 2 s per instance
        #expect(rollout.estimatedSecondsRemaining() == Double(20) / 4 * 2)
    }

    @Test func wavesOfAPolicy() {
        var policy = RolloutPolicy()
        policy.maxConcurrentUpgrades = 3
        #expect((0..<7).map(policy.wave(ofInstanceAt:)) == [0, 0, 0, 1, 1, 1, 2])
        #expect(policy.waveCount(instances: 7) == 3)
        #expect(policy.waveCount(instances: 0) == 0)
        policy.canaryCount = 2
        #expect((0..<7).map(policy.wave(ofInstanceAt:)) == [0, 0, 1, 1, 1, 2, 2])
        #expect(policy.waveCount(instances: 7) == 3)
    }

    @Test func estimatesTheTimeLeft() {
        var rollout = Self.rollout(.running, pending: 20, inProgress: 10, completed: 10, wave: 1)
        rollout.policy.maxConcurrentUpgrades = 10
        rollout.completedSeconds = 20  // 2 s per instance
        #expect(rollout.estimatedSecondsRemaining() == Double(2 + 2 * 2))
        rollout.counts.completed = 0
        #expect(rollout.estimatedSecondsRemaining() == nil)
    }
}
