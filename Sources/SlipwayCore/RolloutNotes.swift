import Foundation

/// Why an instance's part in a rollout ended as it did, or why it was skipped. Structured, so rules
/// never read prose back; ``text`` renders it for people.
public enum RolloutInstanceOutcome: Sendable, Equatable, Codable {
    case agentReportedFailure(message: String)
    case timedOut(seconds: Int)
    case rolledBack(to: String)
    case rollbackReportedFailure(message: String)
    case rollbackTimedOut(seconds: Int)
    case alreadyAtTarget(version: String)
    case cancelledBeforeStart
    case haltedBeforeStart
    /// An operator took it out of the rollout before it started.
    case skippedByOperator
    /// The rollout stayed paused past its `pausedTimeoutSeconds` and was cancelled before this instance started.
    case pausedTooLongBeforeStart(seconds: Int)
    /// A failed or rolled-back instance that a retry found running its target after all (a late report, say).
    case foundAtTarget(version: String)
    /// Text recorded before outcomes were structured; shown, never interpreted.
    case recorded(String)

    public var text: String {
        switch self {
        case .agentReportedFailure(let message): "the agent reported failure: \(message)"
        case .timedOut(let seconds): "no successful report within \(seconds) s (instanceTimeoutSeconds)"
        case .rolledBack(let version): "rolled back to \(version)"
        case .rollbackReportedFailure(let message): "rollback failed: \(message)"
        case .rollbackTimedOut(let seconds): "rollback failed: no report within \(seconds) s"
        case .alreadyAtTarget(let version): "already at version \(version) when its turn to upgrade came"
        case .cancelledBeforeStart: "the rollout was cancelled before this instance started"
        case .haltedBeforeStart: "the rollout halted at its failure threshold before this instance started"
        case .skippedByOperator: "skipped by an operator (POST …/rollout/skip) before it started"
        case .pausedTooLongBeforeStart(let seconds): "the rollout was cancelled after \(seconds) s paused, before this instance started"
        case .foundAtTarget(let version): "found running version \(version) when the rollout was retried"
        case .recorded(let text): text
        }
    }

    /// Whether the instance was upgraded and then could not be moved back.
    public var isFailedRollback: Bool {
        switch self {
        case .rollbackReportedFailure, .rollbackTimedOut: true
        default: false
        }
    }
}

/// What a halted rollout does with the instances it already upgraded.
public enum HaltRollback: Sendable, Equatable, Codable {
    /// `autoRollback` is off: this many upgraded instances stay on the target version.
    case off(stayed: Int)
    /// Moving this many back to their source version.
    case running(instances: Int)
    /// Done: this many were sent back, and this many of those could not go back.
    case done(instances: Int, failed: Int)
}

/// What last happened to a rollout, structured; its status message is rendered from it.
public enum RolloutNote: Sendable, Equatable, Codable {
    case planned(instances: Int, waves: Int)
    case nothingToDo(ineligible: Int)
    case waitingForDependency(instances: Int, waves: Int)
    case waveStarted(wave: Int, of: Int, canary: Bool, upgrading: Int)
    case baking(seconds: Int, afterWave: Int)
    case complete(upgraded: Int, targetVersions: [String], skipped: Int)
    case halted(failed: Int, threshold: Int, notStarted: Int, rollback: HaltRollback)
    case paused(inFlight: Int)
    case resumed
    case cancelled(notStarted: Int, inFlight: Int)
    case retrying(instances: Int, foundAtTarget: Int)
    /// A rollout with a sliding window: the canary wave (if any), then up to `window` instances at a time.
    case plannedWindow(instances: Int, canary: Int, window: Int)
    case waitingForDependencyWindow(instances: Int, canary: Int, window: Int)
    /// The window opened (after the canary wave and its bake, if any).
    case windowOpened(window: Int, instances: Int)
    /// Waits for its `scheduledAt`.
    case scheduled(at: Date, instances: Int)
    /// Its `scheduledAt` came: it starts once no earlier rollout holds its instances.
    case scheduleReached(at: Date)
    /// `pauseAfterCanary`: the canary wave is done (and baked); nothing more starts until promoted.
    case awaitingPromotion(canaryCompleted: Int, remaining: Int)
    /// An operator promoted it past its canary.
    case promoted(remaining: Int)
    /// Before it started, its target was changed to `version` (each instance's tier at that version).
    case retargeted(version: String, instances: Int, startsAt: Date?)
    /// Paused longer than `pausedTimeoutSeconds`: cancelled.
    case pausedTooLong(seconds: Int, notStarted: Int, inFlight: Int)
    /// After wave `afterWave`, the next waits for a passing analysis measurement.
    case awaitingAnalysis(afterWave: Int)
    /// Halted: the analysis failed `failures` times; `measurement` is the last.
    case analysisHalted(measurement: String, failures: Int, notStarted: Int, rollback: HaltRollback)
    /// Instances are left to start, but its maintenance window is closed until `opensAt`.
    case awaitingMaintenanceWindow(opensAt: Date, window: String, pending: Int)

    public var message: String {
        switch self {
        case .planned(let instances, let waves):
            return "\(instances) instance(s) to upgrade in \(waves) wave(s)"
        case .nothingToDo(let ineligible):
            return "no instance needs a change: \(ineligible) instance(s) already run the preferred image or cannot take it"
        case .waitingForDependency(let instances, let waves):
            return "waiting for an earlier rollout that holds some of the same instances; "
                + RolloutNote.planned(instances: instances, waves: waves).message
        case .waveStarted(let wave, let total, let canary, let upgrading):
            return "\(canary ? "canary wave" : "wave \(wave + 1) of \(total)"): \(upgrading) instance(s) upgrading"
        case .baking(let seconds, let afterWave):
            return "baking \(seconds) s after wave \(afterWave + 1) before the next"
        case .complete(let upgraded, let targets, let skipped):
            return "complete: \(upgraded) instance(s) upgraded to \(targets.joined(separator: ", "))" + (skipped > 0 ? ", \(skipped) skipped" : "")
        case .halted(let failed, let threshold, let notStarted, let rollback):
            return "failed: \(failed) instance(s) failed, reaching the failure threshold of \(threshold)"
                + Self.haltTail(notStarted: notStarted, rollback: rollback)
        case .awaitingAnalysis(let afterWave):
            return "wave \(afterWave + 1) is done: the next waits for a passing analysis measurement"
        case .analysisHalted(let measurement, let failures, let notStarted, let rollback):
            return "failed: the analysis failed \(failures) time(s) (\(measurement))" + Self.haltTail(notStarted: notStarted, rollback: rollback)
        case .paused(let inFlight):
            return "paused: no new instance starts until resumed; \(inFlight) instance(s) in flight finish on their own"
        case .resumed:
            return "resumed"
        case .cancelled(let notStarted, let inFlight):
            return "cancelled: \(notStarted) instance(s) were not started; \(inFlight) in flight finish on their own"
        case .retrying(let instances, let foundAtTarget):
            var message = "retrying \(instances) instance(s) that did not reach their target"
            if foundAtTarget > 0 { message += "; \(foundAtTarget) found running their target already count as completed" }
            return message
        case .plannedWindow(let instances, let canary, let window):
            return "\(instances) instance(s) to upgrade, " + (canary > 0 ? "a canary wave of \(canary) first, then " : "")
                + "up to \(window) at a time, the next starting as soon as one finishes"
        case .waitingForDependencyWindow(let instances, let canary, let window):
            return "waiting for an earlier rollout that holds some of the same instances; "
                + RolloutNote.plannedWindow(instances: instances, canary: canary, window: window).message
        case .windowOpened(let window, let instances):
            return "window open: up to \(window) instance(s) upgrading at a time, \(instances) left to upgrade"
        case .scheduled(let at, let instances):
            return "scheduled: \(instances) instance(s) to upgrade, starting at \(at.rfc3339)"
        case .scheduleReached(let at):
            return "its scheduled time \(at.rfc3339) came: starting once no earlier rollout holds its instances"
        case .awaitingPromotion(let canaryCompleted, let remaining):
            return "paused after the canary wave (\(canaryCompleted) instance(s) upgraded): \(remaining) instance(s) wait until it is "
                + "promoted with POST …/rollout/promote, or cancelled"
        case .retargeted(let version, let instances, let startsAt):
            return "target changed to version \(version): \(instances) instance(s) to move"
                + (startsAt.map { ", starting at \($0.rfc3339)" } ?? "")
        case .promoted(let remaining):
            return "promoted past the canary wave: \(remaining) instance(s) to upgrade"
        case .awaitingMaintenanceWindow(let opensAt, let window, let pending):
            return "outside its maintenance window (\(window)): \(pending) instance(s) wait until it opens at \(opensAt.rfc3339)"
        case .pausedTooLong(let seconds, let notStarted, let inFlight):
            return "cancelled: paused longer than pausedTimeoutSeconds (\(seconds) s); \(notStarted) instance(s) were not started; "
                + "\(inFlight) in flight finish on their own"
        }
    }

    /// What a halt left: instances not started, and what became of the upgraded ones.
    static func haltTail(notStarted: Int, rollback: HaltRollback) -> String {
        var message = ""
        if notStarted > 0 { message += "; \(notStarted) instance(s) were not started" }
        switch rollback {
        case .off(let stayed) where stayed > 0:
            message += "; \(stayed) upgraded instance(s) stay on the target version (autoRollback is off)"
        case .off:
            break
        case .running(let instances):
            message += "; rolling back \(instances) upgraded instance(s) to their source version"
        case .done(let instances, let failedRollbacks):
            message += "; rolled back \(instances) upgraded instance(s) to their source version"
            if failedRollbacks > 0 { message += " (\(failedRollbacks) rollback(s) failed)" }
        }
        return message
    }
}
