import Foundation

/// Every rule of a rollout, pure: events in (a step of the engine, an agent's report, a deadline, pause,
/// resume, cancel, retry, an instance deleted), changes out. A store loads the rollout and the rows an
/// event needs, feeds them in, and persists ``Effects`` in the same transaction; it decides nothing.
///
/// Rows change only through ``record(_:becomes:)``, which moves the counters with them, so the counters
/// always say what the rows say. Messages are rendered from ``RolloutNote``s, never parsed back.
public struct RolloutStateMachine: Sendable {
    /// What the engine does next with a rollout, decided from its durable state alone.
    public enum Action: Sendable, Equatable {
        /// Nothing to do until an instance reports, or until the given time.
        case wait(until: Date?)
        /// Another live rollout still holds some instances.
        case waitForDependency
        /// Leave PENDING or PENDING_DEPENDENCY and run.
        case start
        /// A wave finished and more remain: bake until then before the next.
        case bake(until: Date)
        /// Tell the instances of this wave to upgrade (see ``startWave(_:members:now:)``).
        case startWave(Int)
        /// With a sliding window: start up to this many more pending instances of the window's wave, in order
        /// (see ``fillWindow(_:members:now:)``).
        case fillWindow(Int)
        /// Every instance is done.
        case complete
        /// The failure threshold is reached and nothing is in flight: halt as FAILED, rolling back if asked
        /// (see ``halt(pending:completed:now:)``).
        case halt
        /// Every instance to roll back has reported.
        case finishRollback
        /// A SCHEDULED rollout's time came: it queues as a new one would.
        case reachSchedule
        /// The canary wave is done and the policy says to wait for `promote`: pause.
        case awaitPromotion
        /// Paused past `pausedTimeoutSeconds`: cancel, skipping the pending rows (see ``cancelPausedTooLong(pending:now:)``).
        case cancelPausedTooLong
        /// Instances are due to start but the maintenance window is closed: say so, and wait until it opens.
        case awaitWindow(opensAt: Date)
        /// A wave is done and the next waits for a passing analysis measurement: ask for one now, and wait.
        case awaitAnalysis
    }

    /// What to persist, in order: the rollout row, the instance rows written or removed, and the instances
    /// whose desired version changes (each bumps its generation once).
    public struct Effects: Sendable, Equatable {
        public var rolloutChanged = false
        public var rows: [RolloutInstance] = []
        public var removedInstanceIds: [String] = []
        public var desiredVersions: [DesiredVersion] = []
        /// What webhooks hear of: the rollout's moves (started, paused, halted, …) and instances that failed.
        public var events: [Event] = []

        public var isEmpty: Bool {
            !rolloutChanged && rows.isEmpty && removedInstanceIds.isEmpty && desiredVersions.isEmpty && events.isEmpty
        }

        public init() {}

        init(rolloutChanged: Bool) { self.rolloutChanged = rolloutChanged }

        /// These changes followed by `later`'s.
        public mutating func append(_ later: Effects) {
            rolloutChanged = rolloutChanged || later.rolloutChanged
            rows += later.rows
            removedInstanceIds += later.removedInstanceIds
            desiredVersions += later.desiredVersions
            events += later.events
        }
    }

    /// Something a webhook may be told: the kind, and the instance it is about for `instance.failed`.
    public struct Event: Sendable, Equatable {
        public var kind: WebhookEventKind
        public var instance: RolloutInstance?
    }

    /// An instance told to run another tier version.
    public struct DesiredVersion: Sendable, Equatable {
        public var instanceId: String
        public var version: String
    }

    /// A row with where its instance stands now, for the events that look at the instance.
    public struct Member: Sendable, Equatable {
        public var row: RolloutInstance
        public var currentVersion: String
        public var desiredVersion: String

        public init(row: RolloutInstance, currentVersion: String, desiredVersion: String) {
            self.row = row
            self.currentVersion = currentVersion
            self.desiredVersion = desiredVersion
        }

        /// Runs the target and is told to: nothing left to do for it.
        var isAtTarget: Bool { currentVersion == row.targetVersion && desiredVersion == row.targetVersion }
    }

    public private(set) var rollout: Rollout
    public private(set) var effects = Effects()
    /// The status as of the last ``takeEffects()``: a move from it is an event.
    private var statusTaken: RolloutStatus

    public init(_ rollout: Rollout) {
        self.rollout = rollout
        statusTaken = rollout.status
    }

    /// Hands over what changed since the last call, and starts collecting afresh.
    public mutating func takeEffects() -> Effects {
        if let kind = WebhookEventKind.rolloutMoved(from: statusTaken, to: rollout.status) {
            effects.events.append(Event(kind: kind, instance: nil))
        }
        statusTaken = rollout.status
        defer { effects = Effects() }
        return effects
    }

    /// Hands over the instance rows and desired versions changed so far, leaving the rollout's row marked
    /// changed until ``takeEffects()``: a batch of reports writes the rollout's row once.
    public mutating func takeInstanceEffects() -> Effects {
        var taken = effects
        taken.rolloutChanged = false
        effects = Effects(rolloutChanged: effects.rolloutChanged)
        return taken
    }

    /// How many engine steps one pass may take before the rollout must be waiting: a start, each wave,
    /// and a settling step or two. A pass that takes more has counters that disagree with its rows.
    /// With a window, a step may only skip instances already at their target, so each pending one may take one.
    public var stepLimit: Int { rollout.totalWaves + 8 + (rollout.policy.strategy == .window ? rollout.counts.pending : 0) }

    // MARK: Creating

    /// A new rollout of `plan`, PENDING (or COMPLETE when nobody needs a change), with a row per eligible instance.
    public static func create(
        id: String, plan: RolloutPlan, config: ImageConfig, organizationId: String, createdBy: String, now: Date
    ) -> RolloutStateMachine {
        let eligible = plan.eligible
        let waves = plan.policy.waveCount(instances: eligible.count)
        let scheduled = plan.policy.scheduledAt.map { $0 > now } == true && !eligible.isEmpty
        let note: RolloutNote =
            if eligible.isEmpty { .nothingToDo(ineligible: plan.ineligible.count) }
            else if scheduled, let at = plan.policy.scheduledAt { .scheduled(at: at, instances: eligible.count) }
            else if plan.policy.strategy == .window {
                .plannedWindow(instances: eligible.count, canary: min(plan.policy.canaryCount, eligible.count), window: plan.policy.maxConcurrentUpgrades)
            } else { .planned(instances: eligible.count, waves: waves) }
        let rollout = Rollout(
            id: id, organizationId: organizationId, serviceId: config.serviceId, serviceEnvironmentId: config.serviceEnvironmentId,
            imageConfigId: config.id, status: eligible.isEmpty ? .complete : scheduled ? .scheduled : .pending, policy: plan.policy,
            counts: RolloutCounts(),
            currentWave: -1, totalWaves: waves, bakeUntil: nil, rollback: .none,
            sourceVersions: Array(Set(eligible.map(\.instance.currentVersion))).sorted(),
            targetVersions: Array(Set(eligible.compactMap(\.targetVersion))).sorted(), message: note.message, createdBy: createdBy,
            createdAt: now, startedAt: nil, updatedAt: now, finishedAt: eligible.isEmpty ? now : nil, completedSeconds: 0, note: note,
            gateAfterWave: Self.canaryGate(plan.policy, firstWave: 0, instances: eligible.count))
        var machine = RolloutStateMachine(rollout)
        machine.effects.rolloutChanged = true
        for (index, candidate) in eligible.enumerated() {
            machine.record(
                nil,
                becomes: RolloutInstance(
                    rolloutId: id, instanceId: candidate.instance.id, instanceName: candidate.instance.name,
                    wave: plan.policy.wave(ofInstanceAt: index), sourceVersion: candidate.instance.currentVersion,
                    targetVersion: candidate.targetVersion ?? candidate.instance.currentVersion, status: .pending, startedAt: nil, endedAt: nil,
                    outcome: nil), now: now)
        }
        return machine
    }

    /// The wave after which a rollout whose waves start at `firstWave` waits for `promote`: its canary wave, when the
    /// policy asks to pause after it and more waves follow.
    static func canaryGate(_ policy: RolloutPolicy, firstWave: Int, instances: Int) -> Int? {
        policy.pauseAfterCanary && policy.canaryCount > 0 && policy.waveCount(instances: instances) > 1 ? firstWave : nil
    }

    /// Refuses a new rollout of an image config that was never released, or while one of it is still active
    /// or being planned.
    public static func checkCanStart(imageConfigId: String, released: Bool, latest: Rollout?) throws {
        guard released else {
            throw SlipwayError.invalidState(
                "image config \(imageConfigId) has not been released yet; release it with POST …/image-config/\(imageConfigId)/release first")
        }
        if let latest, latest.status == .planning {
            throw SlipwayError.invalidState(
                "rollout \(latest.id) of image config \(imageConfigId) is still being planned (\(latest.counts.total) instances); "
                    + "it starts as soon as its plan is written. A plan whose server stopped is given up when slipwayd starts again, "
                    + "or after \(Int(planAbandonedAfter)) s on a database shared by replicas")
        }
        if let latest, latest.isActive {
            throw SlipwayError.invalidState(
                "rollout \(latest.id) of image config \(imageConfigId) is still \(latest.status.rawValue); "
                    + "wait for it to finish, or cancel it with POST …/rollout/cancel, before starting another")
        }
    }

    // MARK: Planning in chunks

    /// How long a PLANNING rollout on a shared database may go without a chunk of its rows written before it
    /// counts as abandoned (the replica writing it stopped): then it is discarded and stands in nobody's way.
    public static let planAbandonedAfter: TimeInterval = 120

    /// Whether `rollout` is a plan that nobody is writing any more. One this process is writing is not; on a
    /// database no other process opens, every other one is (its writer is gone); on a shared one, the
    /// writer may be another replica, so only a plan idle for ``planAbandonedAfter`` is.
    public static func isAbandonedPlan(_ rollout: Rollout, now: Date, writtenHere: Bool, sharedDatabase: Bool) -> Bool {
        guard rollout.status == .planning, !writtenHere else { return false }
        return !sharedDatabase || now.timeIntervalSince(rollout.updatedAt) > planAbandonedAfter
    }

    /// Holds a new rollout as PLANNING while its rows are written in several transactions.
    public mutating func holdWhilePlanning() {
        guard rollout.status == .pending else { return }
        rollout.status = .planning
    }

    /// Planned rows whose instance was deleted before the row was written: they leave the rollout and its counts.
    public mutating func plannedInstancesVanished(_ rows: [RolloutInstance], now: Date) {
        for row in rows { record(row, becomes: nil, now: now) }
    }

    /// Every row of the plan is written: PLANNING becomes PENDING, for the engine to take up.
    public mutating func planWritten(now: Date) throws {
        guard rollout.status == .planning else {
            throw SlipwayError.invalidState("rollout \(rollout.id) is \(rollout.status.rawValue), not PLANNING; its plan was already finished")
        }
        rollout.status = .pending
        touch(now)
    }

    /// A new rollout found an earlier live one holding some of its instances: it queues behind it.
    public mutating func waitForDependency(now: Date) {
        guard rollout.status == .pending else { return }
        rollout.status = .pendingDependency
        if rollout.policy.strategy == .window {
            let canary = rollout.totalWaves > 1 ? min(rollout.policy.canaryCount, rollout.counts.total) : 0
            note(.waitingForDependencyWindow(instances: rollout.counts.total, canary: canary, window: rollout.policy.maxConcurrentUpgrades), now: now)
        } else {
            note(.waitingForDependency(instances: rollout.counts.total, waves: rollout.totalWaves), now: now)
        }
    }

    // MARK: The engine's steps

    /// The next action at `now`; `dependencyLive` says whether an earlier live rollout holds its instances.
    public func next(now: Date, dependencyLive: Bool) -> Action {
        let counts = rollout.counts
        switch rollout.status {
        case .scheduled:
            guard let at = rollout.policy.scheduledAt, at > now else { return .reachSchedule }
            return .wait(until: at)
        case .pendingDependency:
            return dependencyLive ? .waitForDependency : .start
        case .pending:
            return .start
        case .paused:
            let timeout = (rollout.pausedAt ?? rollout.updatedAt).addingTimeInterval(TimeInterval(rollout.policy.pausedTimeoutSeconds))
            return timeout <= now ? .cancelPausedTooLong : .wait(until: timeout)
        case .failed:
            if rollout.rollback == .running && counts.rollingBack == 0 { return .finishRollback }
            return .wait(until: nil)
        case .complete, .cancelled, .planning:
            return .wait(until: nil)
        case .running:
            if rollout.isSlidingWindow { return nextInWindow(now) }
            // Waves are strict: nothing new starts while any instance of the current wave is in flight.
            if counts.inProgress > 0 { return .wait(until: nil) }
            if counts.failed >= rollout.policy.failureThreshold || rollout.analysisFailed { return .halt }
            if counts.pending == 0 { return .complete }
            if rollout.currentWave >= 0 && rollout.policy.bakeSeconds > 0 {
                guard let bakeUntil = rollout.bakeUntil else {
                    return .bake(until: now.addingTimeInterval(TimeInterval(rollout.policy.bakeSeconds)))
                }
                if bakeUntil > now { return .wait(until: bakeUntil) }
            }
            if rollout.policy.analysis != nil, rollout.currentWave >= 0, (rollout.analyzedThroughWave ?? -1) < rollout.currentWave {
                return .awaitAnalysis
            }
            if let gate = rollout.gateAfterWave, rollout.currentWave >= gate { return .awaitPromotion }
            if let closed = closedWindow(now) { return closed }
            let wave = rollout.currentWave + 1
            return wave == rollout.windowWave ? .fillWindow(rollout.policy.maxConcurrentUpgrades) : .startWave(wave)
        }
    }

    /// The window slides: a free slot takes the next pending instance, until the failure threshold stops new
    /// starts (the halt waits for what is in flight, as between waves) or nothing is left.
    private func nextInWindow(_ now: Date) -> Action {
        let counts = rollout.counts
        if counts.failed >= rollout.policy.failureThreshold || rollout.analysisFailed {
            return counts.inProgress > 0 ? .wait(until: nil) : .halt
        }
        if counts.pending == 0 { return counts.inProgress > 0 ? .wait(until: nil) : .complete }
        let free = rollout.policy.maxConcurrentUpgrades - counts.inProgress
        guard free > 0 else { return .wait(until: nil) }
        return closedWindow(now) ?? .fillWindow(free)
    }

    /// Waiting for the maintenance window, when it is closed at `now`.
    private func closedWindow(_ now: Date) -> Action? {
        guard let window = rollout.policy.maintenanceWindow, !window.isOpen(at: now) else { return nil }
        return .awaitWindow(opensAt: window.nextOpening(after: now))
    }

    /// Performs an action that needs no rows: start, bake, complete, finish a rollback. Waits do nothing.
    public mutating func perform(_ action: Action, now: Date) {
        switch action {
        case .start:
            rollout.status = .running
            rollout.startedAt = rollout.startedAt ?? now
            // The analysis is first measured as the rollout starts, then every interval.
            if rollout.policy.analysis != nil && rollout.nextAnalysisAt == nil { rollout.nextAnalysisAt = now }
            touch(now)
        case .bake(let until):
            rollout.bakeUntil = until
            note(.baking(seconds: rollout.policy.bakeSeconds, afterWave: rollout.currentWave), now: now)
        case .complete:
            rollout.status = .complete
            rollout.finishedAt = now
            note(.complete(upgraded: rollout.counts.completed, targetVersions: rollout.targetVersions, skipped: rollout.counts.skipped), now: now)
        case .finishRollback:
            rollout.rollback = .done
            if case .halted(let failed, let threshold, let notStarted, .running(let instances)) = rollout.note {
                note(
                    .halted(failed: failed, threshold: threshold, notStarted: notStarted,
                        rollback: .done(instances: instances, failed: rollout.counts.rollbackFailed)), now: now)
            } else if case .analysisHalted(let measurement, let failures, let notStarted, .running(let instances)) = rollout.note {
                note(
                    .analysisHalted(measurement: measurement, failures: failures, notStarted: notStarted,
                        rollback: .done(instances: instances, failed: rollout.counts.rollbackFailed)), now: now)
            } else {
                touch(now)
            }
        case .reachSchedule:
            rollout.status = .pendingDependency
            note(.scheduleReached(at: rollout.policy.scheduledAt ?? now), now: now)
        case .awaitPromotion:
            rollout.status = .paused
            rollout.pausedAt = now
            note(.awaitingPromotion(canaryCompleted: rollout.counts.completed, remaining: rollout.counts.pending), now: now)
        case .awaitAnalysis:
            // Written only when something changes: every look while it waits would write the same.
            let measureNow = rollout.nextAnalysisAt.map { $0 > now } ?? true
            if measureNow { rollout.nextAnalysisAt = now }
            let waiting = RolloutNote.awaitingAnalysis(afterWave: rollout.currentWave)
            if rollout.note != waiting { note(waiting, now: now) } else if measureNow { touch(now) }
        case .awaitWindow(let opensAt):
            let waiting = RolloutNote.awaitingMaintenanceWindow(
                opensAt: opensAt, window: rollout.policy.maintenanceWindow?.summary ?? "", pending: rollout.counts.pending)
            // Every look while it waits would write the same note: only a change is written.
            if rollout.note != waiting { note(waiting, now: now) }
        case .wait, .waitForDependency, .startWave, .fillWindow, .halt, .cancelPausedTooLong:
            break
        }
    }

    /// Starts wave `wave`: tells each of its pending `members` to move to its target, or skips one already there.
    public mutating func startWave(_ wave: Int, members: [Member], now: Date) {
        let deadline = now.addingTimeInterval(TimeInterval(rollout.policy.instanceTimeoutSeconds))
        var started = 0
        for member in members where member.row.status == .pending && member.row.wave == wave {
            if begin(member, deadline: deadline, now: now) { started += 1 }
        }
        rollout.currentWave = wave
        rollout.bakeUntil = nil
        let canary = rollout.policy.canaryCount > 0 && wave == 0
        note(.waveStarted(wave: wave, of: rollout.totalWaves, canary: canary, upgrading: started), now: now)
    }

    /// Starts up to `slots` of the window's pending `members`, in the order given (the plan's); one already at its
    /// target is skipped without taking a slot. The first fill opens the window.
    public mutating func fillWindow(_ slots: Int, members: [Member], now: Date) {
        guard let wave = rollout.windowWave else { return }
        let deadline = now.addingTimeInterval(TimeInterval(rollout.policy.instanceTimeoutSeconds))
        var started = 0
        for member in members where member.row.status == .pending && member.row.wave == wave {
            guard started < slots else { break }
            if begin(member, deadline: deadline, now: now) { started += 1 }
        }
        if rollout.currentWave != wave {
            rollout.currentWave = wave
            rollout.bakeUntil = nil
            note(.windowOpened(window: rollout.policy.maxConcurrentUpgrades, instances: rollout.counts.pending + rollout.counts.inProgress), now: now)
        }
    }

    /// Tells `member` to move to its target, or skips it when it is there already; returns whether it started.
    private mutating func begin(_ member: Member, deadline: Date, now: Date) -> Bool {
        var row = member.row
        let starts = !member.isAtTarget
        if starts {
            row.status = .inProgress
            row.startedAt = now
            row.deadline = deadline
            effects.desiredVersions.append(DesiredVersion(instanceId: row.instanceId, version: row.targetVersion))
        } else {
            row.status = .skipped
            row.endedAt = now
            row.outcome = .alreadyAtTarget(version: row.targetVersion)
        }
        record(member.row, becomes: row, now: now)
        return starts
    }

    /// Halts at the failure threshold: skips the `pending` rows and, with `autoRollback`, sends the
    /// `completed` ones back to their source version.
    public mutating func halt(pending: [RolloutInstance], completed: [RolloutInstance], now: Date) {
        let failed = rollout.counts.failed
        let upgraded = rollout.counts.completed
        let notStarted = skip(pending, because: .haltedBeforeStart, now: now)
        var rollback = HaltRollback.off(stayed: upgraded)
        if rollout.policy.autoRollback {
            let deadline = now.addingTimeInterval(TimeInterval(rollout.policy.instanceTimeoutSeconds))
            var sentBack = 0
            for old in completed where old.status == .completed {
                var row = old
                row.status = .rollingBack
                row.startedAt = now
                row.endedAt = nil
                row.deadline = deadline
                row.outcome = nil
                effects.desiredVersions.append(DesiredVersion(instanceId: row.instanceId, version: row.sourceVersion))
                record(old, becomes: row, now: now)
                sentBack += 1
            }
            rollback = .running(instances: sentBack)
        }
        rollout.status = .failed
        rollout.finishedAt = now
        rollout.rollback = rollout.policy.autoRollback ? .running : .none
        rollout.nextAnalysisAt = nil
        if rollout.analysisFailed && failed < rollout.policy.failureThreshold {
            note(.analysisHalted(measurement: rollout.lastAnalysis ?? "", failures: rollout.analysisFailures, notStarted: notStarted, rollback: rollback), now: now)
        } else {
            note(.halted(failed: failed, threshold: rollout.policy.failureThreshold, notStarted: notStarted, rollback: rollback), now: now)
        }
    }

    /// A measurement of the rollout's analysis: `passed` or not, `text` saying what was seen. A pass with nothing
    /// in flight lets the next wave start; a failure counts toward the `failureLimit`. Returns whether the engine
    /// has work now (a wave waited for this pass, or the limit is reached). Ignored unless the rollout runs.
    @discardableResult
    public mutating func analysisMeasured(passed: Bool, text: String, now: Date) -> Bool {
        guard rollout.status == .running, let analysis = rollout.policy.analysis else { return false }
        let waited: Bool = if case .awaitingAnalysis = rollout.note { true } else { false }
        rollout.lastAnalysis = text.prefix(utf8Bytes: 500)
        rollout.nextAnalysisAt = now.addingTimeInterval(TimeInterval(analysis.intervalSeconds))
        touch(now)
        if passed {
            if rollout.counts.inProgress == 0 { rollout.analyzedThroughWave = rollout.currentWave }
            return waited
        }
        rollout.analysisFailures += 1
        return rollout.analysisFailed
    }

    // MARK: Events from agents and time

    /// An agent's report on `row`, its instance's part in this rollout. `desiredGeneration` is the generation
    /// the instance should be at: a report about an older one says nothing about this rollout. Returns whether
    /// the engine has work now (nothing of the wave, or of the rollback, is left in flight; or enough of the
    /// window is free, see ``windowRefill(_:)``).
    @discardableResult
    public mutating func report(_ report: AgentReport, on row: RolloutInstance, desiredGeneration: Int, now: Date) -> Bool {
        guard report.generation == nil || report.generation == desiredGeneration else { return false }
        var new = row
        switch (row.status, report.status) {
        case (.inProgress, .succeeded) where report.tierVersion == row.targetVersion:
            new.status = .completed
        case (.rollingBack, .succeeded) where report.tierVersion == row.sourceVersion:
            new.status = .rolledBack
            new.outcome = .rolledBack(to: row.sourceVersion)
        case (.inProgress, .failed):
            new.status = .failed
            new.outcome = .agentReportedFailure(message: (report.message ?? "").prefix(utf8Bytes: 500))
        case (.rollingBack, .failed):
            new.status = .failed
            new.outcome = .rollbackReportedFailure(message: (report.message ?? "").prefix(utf8Bytes: 500))
        default:
            return false
        }
        new.endedAt = now
        new.deadline = nil
        record(row, becomes: new, now: now)
        if row.status == .rollingBack { return rollout.counts.rollingBack == 0 }
        if rollout.isSlidingWindow && rollout.counts.inProgress > 0 {
            return rollout.policy.maxConcurrentUpgrades - rollout.counts.inProgress >= Self.windowRefill(rollout.policy)
        }
        return rollout.counts.inProgress == 0
    }

    /// Free slots that make an open window worth refilling: a twentieth of it, at least one. Each refill is a
    /// transaction and an engine pass; a slot waits only for a few more reports (or a deadline, or the tick).
    public static func windowRefill(_ policy: RolloutPolicy) -> Int {
        max(1, policy.maxConcurrentUpgrades / 20)
    }

    /// `row` was in flight past its deadline: it failed.
    public mutating func deadlinePassed(_ row: RolloutInstance, now: Date) {
        var new = row
        switch row.status {
        case .inProgress: new.outcome = .timedOut(seconds: rollout.policy.instanceTimeoutSeconds)
        case .rollingBack: new.outcome = .rollbackTimedOut(seconds: rollout.policy.instanceTimeoutSeconds)
        default: return
        }
        new.status = .failed
        new.endedAt = now
        new.deadline = nil
        record(row, becomes: new, now: now)
    }

    /// The instance of `row` was deleted: its row goes with it, and so does its place in the counts.
    public mutating func instanceDeleted(_ row: RolloutInstance, now: Date) {
        record(row, becomes: nil, now: now)
    }

    // MARK: Operators

    public mutating func pause(now: Date) throws {
        guard [.scheduled, .pending, .pendingDependency, .running].contains(rollout.status) else {
            throw SlipwayError.invalidState(
                "rollout \(rollout.id) is \(rollout.status.rawValue); only a SCHEDULED, PENDING or RUNNING rollout can be paused")
        }
        rollout.status = .paused
        rollout.pausedAt = now
        note(.paused(inFlight: rollout.counts.inProgress), now: now)
    }

    public mutating func resume(now: Date) throws {
        guard rollout.status == .paused else {
            throw SlipwayError.invalidState("rollout \(rollout.id) is \(rollout.status.rawValue); only a PAUSED rollout can be resumed")
        }
        guard !rollout.isAwaitingPromotion else {
            throw SlipwayError.invalidState(
                "rollout \(rollout.id) is paused after its canary wave, waiting to be promoted; promote it with POST …/rollout/promote, "
                    + "or cancel it with POST …/rollout/cancel")
        }
        // One that never started waits for its schedule, or checks its dependencies again first.
        if rollout.startedAt != nil {
            rollout.status = .running
        } else if let at = rollout.policy.scheduledAt, at > now {
            rollout.status = .scheduled
        } else {
            rollout.status = .pendingDependency
        }
        rollout.pausedAt = nil
        note(.resumed, now: now)
    }

    /// Lets the rest of the rollout follow its canary wave. At the gate, the rollout runs on; before it (while the
    /// canary still runs, or even before the rollout starts), the gate is lifted and the rollout will not stop there.
    public mutating func promote(now: Date) throws {
        guard rollout.status.isLive else {
            throw SlipwayError.invalidState("rollout \(rollout.id) is \(rollout.status.rawValue); only a live rollout can be promoted")
        }
        guard rollout.gateAfterWave != nil else {
            if let promotedAt = rollout.promotedAt {
                throw SlipwayError.invalidState("rollout \(rollout.id) was already promoted at \(promotedAt.rfc3339)")
            }
            throw SlipwayError.invalidState(
                "rollout \(rollout.id) does not wait to be promoted: its policy has no pauseAfterCanary (with a canaryCount and more than one wave)")
        }
        let atGate = rollout.isAwaitingPromotion
        rollout.gateAfterWave = nil
        rollout.promotedAt = now
        if atGate {
            rollout.status = .running
            rollout.pausedAt = nil
            note(.promoted(remaining: rollout.counts.pending), now: now)
        } else {
            touch(now)
        }
    }

    /// Takes `instanceIds` out of a live rollout before they start: their rows (`rows`, loaded by the caller) become
    /// SKIPPED. All or nothing: an id that is not in the rollout, or whose instance is no longer PENDING, refuses the lot.
    public mutating func skip(instanceIds: [String], rows: [RolloutInstance], now: Date) throws {
        guard rollout.status.isLive else {
            throw SlipwayError.invalidState(
                "rollout \(rollout.id) is \(rollout.status.rawValue); only a live rollout's pending instances can be skipped")
        }
        let byInstance = Dictionary(rows.map { ($0.instanceId, $0) }, uniquingKeysWith: { first, _ in first })
        for id in instanceIds {
            guard let row = byInstance[id] else {
                throw SlipwayError.notFound("instance \(id.prefix(utf8Bytes: 80)) is not part of rollout \(rollout.id)")
            }
            guard row.status == .pending else {
                throw SlipwayError.invalidState(
                    "instance \(id) is \(row.status.rawValue) in rollout \(rollout.id); only PENDING instances can be skipped")
            }
        }
        let unique = Set(instanceIds)
        _ = skip(rows.filter { unique.contains($0.instanceId) }, because: .skippedByOperator, now: now)
    }

    /// What a product tier has at the version a rollout is retargeted to: nil when the tier has no such version.
    public struct TierAtVersion: Sendable, Equatable {
        public var status: TierVersionStatus
        /// Whether that version pins the rollout's image config.
        public var pinsImageConfig: Bool

        public init(status: TierVersionStatus, pinsImageConfig: Bool) {
            self.status = status
            self.pinsImageConfig = pinsImageConfig
        }
    }

    /// Changes the target of a rollout that has not started (SCHEDULED, or PAUSED before it started) to `version`
    /// of each of its instances' product tiers (`tiers`, by id). Every tier must have that version, not Deprecated,
    /// pinning the rollout's image config. The store rewrites the rows' target to match; an instance that runs the
    /// version already is skipped when its turn comes.
    public mutating func retarget(to version: String, tiers: [String: TierAtVersion?], now: Date) throws {
        guard rollout.status == .scheduled || (rollout.status == .paused && rollout.startedAt == nil) else {
            throw SlipwayError.invalidState(
                "rollout \(rollout.id) is \(rollout.status.rawValue); only a rollout that has not started (SCHEDULED, or PAUSED before it started) "
                    + "can change its target")
        }
        for tierId in tiers.keys.sorted() {
            guard let found = tiers[tierId], let tier = found else {
                throw SlipwayError.notFound("product tier \(tierId) has no version '\(version.prefix(utf8Bytes: 40))'")
            }
            guard tier.status != .deprecated else {
                throw SlipwayError.invalidState("version \(version) of product tier \(tierId) is Deprecated; a rollout may not target it")
            }
            guard tier.pinsImageConfig else {
                throw SlipwayError.invalidState(
                    "version \(version) of product tier \(tierId) does not include image config \(rollout.imageConfigId); pick a version that does")
            }
        }
        rollout.targetVersions = [version]
        note(.retargeted(version: version, instances: rollout.counts.total, startsAt: rollout.status == .scheduled ? rollout.policy.scheduledAt : nil), now: now)
    }

    /// Cancels a rollout left PAUSED past its `pausedTimeoutSeconds`: like ``cancel(pending:now:)``, saying why.
    public mutating func cancelPausedTooLong(pending: [RolloutInstance], now: Date) {
        guard rollout.status == .paused else { return }
        let seconds = rollout.policy.pausedTimeoutSeconds
        let notStarted = skip(pending, because: .pausedTooLongBeforeStart(seconds: seconds), now: now)
        rollout.status = .cancelled
        rollout.finishedAt = now
        note(.pausedTooLong(seconds: seconds, notStarted: notStarted, inFlight: rollout.counts.inProgress), now: now)
    }

    /// Cancels a live rollout: its `pending` rows are skipped; what is in flight finishes on its own.
    public mutating func cancel(pending: [RolloutInstance], now: Date) throws {
        guard rollout.status.isLive else {
            throw SlipwayError.invalidState("rollout \(rollout.id) is already \(rollout.status.rawValue); only a live rollout can be cancelled")
        }
        let notStarted = skip(pending, because: .cancelledBeforeStart, now: now)
        rollout.status = .cancelled
        rollout.finishedAt = now
        note(.cancelled(notStarted: notStarted, inFlight: rollout.counts.inProgress), now: now)
    }

    /// Retries a settled FAILED or CANCELLED rollout. `members` are all of its rows: the counts are taken
    /// afresh from them, failed or rolled-back instances found at their target count as completed, and every
    /// instance that did not reach its target runs again in new waves.
    public mutating func retry(members: [Member], now: Date) throws {
        guard [.failed, .cancelled].contains(rollout.status), rollout.rollback != .running else {
            throw SlipwayError.invalidState(
                "rollout \(rollout.id) is \(rollout.status.rawValue)\(rollout.rollback == .running ? " and rolling back" : ""); "
                    + "only a FAILED or CANCELLED rollout that has settled can be retried")
        }
        let rerun = members.filter { [.failed, .skipped, .rolledBack].contains($0.row.status) && !$0.isAtTarget }
        let found = members.filter { [.failed, .rolledBack].contains($0.row.status) && $0.isAtTarget }
        guard !rerun.isEmpty || !found.isEmpty else {
            throw SlipwayError.invalidState("rollout \(rollout.id) has no instance left to retry: every instance reached its target")
        }
        rollout.counts = RolloutCounts(counting: members.map(\.row))
        for member in found {
            var row = member.row
            row.status = .completed
            row.endedAt = now
            row.outcome = .foundAtTarget(version: row.targetVersion)
            record(member.row, becomes: row, now: now)
        }
        let firstWave = rollout.currentWave + 1
        for (index, member) in rerun.enumerated() {
            var row = member.row
            row.status = .pending
            row.wave = firstWave + rollout.policy.wave(ofInstanceAt: index)
            row.startedAt = nil
            row.endedAt = nil
            row.deadline = nil
            row.outcome = nil
            record(member.row, becomes: row, now: now)
        }
        rollout.status = .pendingDependency
        rollout.rollback = .none
        rollout.finishedAt = nil
        rollout.bakeUntil = nil
        rollout.pausedAt = nil
        rollout.analysisFailures = 0
        rollout.nextAnalysisAt = nil
        rollout.totalWaves = firstWave + rollout.policy.waveCount(instances: rerun.count)
        // A rollout never promoted waits again after the canary wave of the rerun.
        if rollout.promotedAt == nil { rollout.gateAfterWave = Self.canaryGate(rollout.policy, firstWave: firstWave, instances: rerun.count) }
        note(.retrying(instances: rerun.count, foundAtTarget: found.count), now: now)
    }

    // MARK: The one place rows and counters change

    /// `old` (nil: a new row) becomes `new` (nil: the row is gone). The counters move with it.
    private mutating func record(_ old: RolloutInstance?, becomes new: RolloutInstance?, now: Date) {
        rollout.counts.move(from: old, to: new)
        if let old, let new, old.status == .inProgress, new.status == .completed {
            rollout.completedSeconds += now.timeIntervalSince(old.startedAt ?? now)
        }
        if let new, new.status == .failed, old?.status != .failed {
            effects.events.append(Event(kind: .instanceFailed, instance: new))
        }
        if let new {
            effects.rows.append(new)
        } else if let old {
            effects.removedInstanceIds.append(old.instanceId)
        }
        touch(now)
    }

    /// Marks `rows` (those still pending) SKIPPED; returns how many.
    private mutating func skip(_ rows: [RolloutInstance], because outcome: RolloutInstanceOutcome, now: Date) -> Int {
        var skipped = 0
        for old in rows where old.status == .pending {
            var row = old
            row.status = .skipped
            row.endedAt = now
            row.outcome = outcome
            record(old, becomes: row, now: now)
            skipped += 1
        }
        return skipped
    }

    private mutating func note(_ note: RolloutNote, now: Date) {
        rollout.note = note
        rollout.message = note.message
        touch(now)
    }

    private mutating func touch(_ now: Date) {
        rollout.updatedAt = now
        effects.rolloutChanged = true
    }
}
