import Foundation
import SlipwayCore
import Testing

@Suite("The rollout state machine, decision by decision")
struct RolloutStateMachineTests {
    static let now = Date(timeIntervalSince1970: 1_000_000)

    static func rollout(
        _ status: RolloutStatus, pending: Int = 0, inProgress: Int = 0, completed: Int = 0, failed: Int = 0, wave: Int = -1,
        bakeSeconds: Int = 0, bakeUntil: Date? = nil, threshold: Int = 1, rollback: RollbackState = .none, rollingBack: Int = 0
    ) -> Rollout {
        var policy = RolloutPolicy()
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
            policy: policy, counts: counts, currentWave: wave, totalWaves: 3, bakeUntil: bakeUntil, rollback: rollback, sourceVersions: [],
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
        for status in [RolloutStatus.paused, .complete, .cancelled] {
            #expect(next(Self.rollout(status, pending: 2, wave: 0)) == .wait(until: nil))
        }
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
