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
