import Foundation

/// What a rollout does next, decided from its durable state alone. Pure: the engine performs the action
/// in a transaction, so the same state after a crash leads to the same decision.
public enum RolloutStateMachine {
    public enum Action: Sendable, Equatable {
        /// Nothing to do until an instance reports, or until the given time.
        case wait(until: Date?)
        /// Another live rollout still holds some instances.
        case waitForDependency
        /// Leave PENDING or PENDING_DEPENDENCY and run.
        case start
        /// A wave finished and more remain: bake until then before the next.
        case bake(until: Date)
        /// Tell the instances of this wave to upgrade.
        case startWave(Int)
        /// Every instance is done.
        case complete
        /// The failure threshold is reached and nothing is in flight: halt as FAILED (rolling back if asked).
        case halt
        /// Every instance to roll back has reported.
        case finishRollback
    }

    /// The next action for `rollout` at `now`; `dependencyLive` says whether an earlier live rollout holds its instances.
    public static func next(_ rollout: Rollout, now: Date, dependencyLive: Bool) -> Action {
        let counts = rollout.counts
        switch rollout.status {
        case .pendingDependency:
            return dependencyLive ? .waitForDependency : .start
        case .pending:
            return .start
        case .paused:
            return .wait(until: nil)
        case .failed:
            if rollout.rollback == .running && counts.rollingBack == 0 { return .finishRollback }
            return .wait(until: nil)
        case .complete, .cancelled:
            return .wait(until: nil)
        case .running:
            // Waves are strict: nothing new starts while any instance of the current wave is in flight.
            if counts.inProgress > 0 { return .wait(until: nil) }
            if counts.failed >= rollout.policy.failureThreshold { return .halt }
            if counts.pending == 0 { return .complete }
            if rollout.currentWave >= 0 && rollout.policy.bakeSeconds > 0 {
                guard let bakeUntil = rollout.bakeUntil else {
                    return .bake(until: now.addingTimeInterval(TimeInterval(rollout.policy.bakeSeconds)))
                }
                if bakeUntil > now { return .wait(until: bakeUntil) }
            }
            return .startWave(rollout.currentWave + 1)
        }
    }
}
