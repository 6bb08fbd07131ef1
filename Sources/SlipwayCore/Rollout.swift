import Foundation

/// The status of a rollout (an upgrade path `up-…`), as the upstream API names them.
public enum RolloutStatus: String, Sendable, CaseIterable {
    /// Slipway's own, never answered: a large rollout whose instance rows are still being written, in
    /// chunks so the writer is never held for long. The engine and every read pass it over; later rollouts
    /// of its environment queue behind it. It becomes PENDING when the last chunk is in.
    case planning = "PLANNING"
    /// Waits for its policy's `scheduledAt`; then it starts as a PENDING one would (behind any earlier rollout
    /// that holds its instances).
    case scheduled = "SCHEDULED"
    case pending = "PENDING"
    /// Another live rollout holds some of the same instances: queued until it ends.
    case pendingDependency = "PENDING_DEPENDENCY"
    case running = "RUNNING"
    case paused = "PAUSED"
    case complete = "COMPLETE"
    case failed = "FAILED"
    case cancelled = "CANCELLED"

    /// Whether the rollout may still start instances.
    public var isLive: Bool { [.scheduled, .pending, .pendingDependency, .running, .paused].contains(self) }
}

/// Where one instance is in a rollout.
public enum RolloutInstanceStatus: String, Sendable, CaseIterable {
    case pending = "PENDING"
    case inProgress = "IN_PROGRESS"
    case completed = "COMPLETED"
    case failed = "FAILED"
    case skipped = "SKIPPED"
    case rollingBack = "ROLLING_BACK"
    case rolledBack = "ROLLED_BACK"
}

/// How a rollout moves through its instances after the canary wave (which is always strict).
public enum RolloutStrategy: String, Sendable, Codable, CaseIterable {
    /// Batches of `maxConcurrentUpgrades`: the next starts when the whole last one has finished (and baked).
    case waves
    /// A sliding window: up to `maxConcurrentUpgrades` in flight, the next starting as soon as one finishes.
    /// The rollout then takes about as long as its agents take to apply, not as long as its slowest per batch.
    case window
}

public struct RolloutPolicy: Sendable, Equatable, Codable {
    /// Instances upgraded at once: the size of each wave after the canary, or of the window.
    public var maxConcurrentUpgrades = 10
    /// Instances in a first wave of their own; 0 for none.
    public var canaryCount = 0
    /// Failed instances that halt the rollout.
    public var failureThreshold = 1
    /// An instance that does not report success within this many seconds of being told fails.
    public var instanceTimeoutSeconds = 600
    /// Pause between waves; with a window, after the canary wave only.
    public var bakeSeconds = 0
    /// On a halt, move the instances this rollout upgraded back to their source version.
    public var autoRollback = false
    /// Waves (the default) or a sliding window.
    public var strategy = RolloutStrategy.waves
    /// Only these instances of the environment; nil for all of them.
    public var selector: RolloutSelector?
    /// After the canary wave (and its bake), wait PAUSED for `promote` before the rest.
    public var pauseAfterCanary = false
    /// Start no earlier than this; the rollout is SCHEDULED until then. Nil: start now.
    public var scheduledAt: Date?
    /// A rollout PAUSED longer than this is cancelled: nobody is watching it.
    public var pausedTimeoutSeconds = 86_400
    /// Instances start only inside this window; nil: at any time.
    public var maintenanceWindow: MaintenanceWindow?
    /// Evidence the rollout waits for after each wave and halts on; nil: none.
    public var analysis: RolloutAnalysis?

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case maxConcurrentUpgrades, canaryCount, failureThreshold, instanceTimeoutSeconds, bakeSeconds, autoRollback, strategy
        case selector, pauseAfterCanary, scheduledAt, pausedTimeoutSeconds, maintenanceWindow, analysis
    }

    /// Decodes a stored policy; one stored before strategies existed ran in waves.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxConcurrentUpgrades = try container.decode(Int.self, forKey: .maxConcurrentUpgrades)
        canaryCount = try container.decode(Int.self, forKey: .canaryCount)
        failureThreshold = try container.decode(Int.self, forKey: .failureThreshold)
        instanceTimeoutSeconds = try container.decode(Int.self, forKey: .instanceTimeoutSeconds)
        bakeSeconds = try container.decode(Int.self, forKey: .bakeSeconds)
        autoRollback = try container.decode(Bool.self, forKey: .autoRollback)
        strategy = try container.decodeIfPresent(RolloutStrategy.self, forKey: .strategy) ?? .waves
        selector = try container.decodeIfPresent(RolloutSelector.self, forKey: .selector)
        pauseAfterCanary = try container.decodeIfPresent(Bool.self, forKey: .pauseAfterCanary) ?? false
        scheduledAt = try container.decodeIfPresent(Date.self, forKey: .scheduledAt)
        pausedTimeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .pausedTimeoutSeconds) ?? 86_400
        maintenanceWindow = try container.decodeIfPresent(MaintenanceWindow.self, forKey: .maintenanceWindow)
        analysis = try container.decodeIfPresent(RolloutAnalysis.self, forKey: .analysis)
    }

    /// The longest a rollout may be scheduled ahead.
    public static let longestSchedule: TimeInterval = 366 * 86_400

    /// Checks the bounds of every field, and that a schedule lies ahead of `now`.
    public func validate(now: Date) throws {
        func check(_ value: Int, _ field: String, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else {
                throw SlipwayError.badRequest("\(field) must be from \(range.lowerBound) to \(range.upperBound), got \(value)")
            }
        }
        try check(maxConcurrentUpgrades, "maxConcurrentUpgrades", 1...100_000)
        try check(canaryCount, "canaryCount", 0...100_000)
        try check(failureThreshold, "failureThreshold", 1...1_000_000)
        try check(instanceTimeoutSeconds, "instanceTimeoutSeconds", 1...86_400)
        try check(bakeSeconds, "bakeSeconds", 0...86_400)
        try check(pausedTimeoutSeconds, "pausedTimeoutSeconds", 60...2_592_000)
        if pauseAfterCanary && canaryCount == 0 {
            throw SlipwayError.badRequest("pauseAfterCanary needs a canary wave: set canaryCount to 1 or more")
        }
        try selector?.validate()
        try analysis?.validate()
        if let scheduledAt {
            guard scheduledAt > now else {
                throw SlipwayError.badRequest("scheduledAt \(scheduledAt.rfc3339) is not in the future (it is \(now.rfc3339) now); leave it out to start now")
            }
            guard scheduledAt.timeIntervalSince(now) <= Self.longestSchedule else {
                throw SlipwayError.badRequest("scheduledAt \(scheduledAt.rfc3339) is more than 366 days ahead")
            }
        }
    }

    /// The wave of the n-th eligible instance (0-based): the canary wave first, then batches of
    /// `maxConcurrentUpgrades`, or one wave for the window to slide over.
    public func wave(ofInstanceAt index: Int) -> Int {
        let afterCanary = canaryCount > 0 ? 1 : 0
        if index < canaryCount { return 0 }
        switch strategy {
        case .waves: return afterCanary + (index - canaryCount) / maxConcurrentUpgrades
        case .window: return afterCanary
        }
    }

    /// How many waves `count` instances take.
    public func waveCount(instances count: Int) -> Int {
        count == 0 ? 0 : wave(ofInstanceAt: count - 1) + 1
    }
}

/// Which instances of the environment a rollout takes: those listed, those carrying every given label, or
/// (with both) those listed that carry the labels.
public struct RolloutSelector: Sendable, Equatable, Codable {
    public var instanceIds: [String]?
    public var labels: [String: String]?

    public init(instanceIds: [String]? = nil, labels: [String: String]? = nil) {
        self.instanceIds = instanceIds
        self.labels = labels
    }

    /// The most instance ids a selector may list.
    public static let maxInstanceIds = 10_000

    public func validate() throws {
        guard instanceIds != nil || labels != nil else {
            throw SlipwayError.badRequest("selector must give instanceIds, labels or both; leave it out to take every instance")
        }
        if let instanceIds {
            guard !instanceIds.isEmpty else { throw SlipwayError.badRequest("selector.instanceIds must not be empty") }
            guard instanceIds.count <= Self.maxInstanceIds else {
                throw SlipwayError.badRequest("selector.instanceIds must list at most \(Self.maxInstanceIds) instances, got \(instanceIds.count)")
            }
            for id in instanceIds { try Validate.identifier(id, field: "selector.instanceIds", kind: .instance) }
        }
        if let labels {
            guard !labels.isEmpty else { throw SlipwayError.badRequest("selector.labels must not be empty") }
            try Validate.labels(labels, field: "selector.labels")
        }
    }

    /// Why `instance` is left out; nil when the selector takes it. `listed` is `instanceIds` as a set.
    public func exclusionReason(_ instance: Instance, listed: Set<String>?) -> String? {
        if let listed, !listed.contains(instance.id) { return "not in the rollout's selector.instanceIds" }
        if let labels {
            let missing = labels.keys.sorted().filter { instance.labels[$0] != labels[$0] }
            if !missing.isEmpty {
                let wanted = missing.map { "\($0)=\(labels[$0]!)" }.joined(separator: ", ")
                let has = missing.map { key in instance.labels[key].map { "\(key)=\($0)" } ?? "no \(key)" }.joined(separator: ", ")
                return "its labels do not match the rollout's selector: wanted \(wanted), has \(has)"
            }
        }
        return nil
    }
}

/// Counts of a rollout's instances by status. They change in one place, ``move(from:to:)``, which
/// every transition of ``RolloutStateMachine`` goes through, so they always say what the rows say.
public struct RolloutCounts: Sendable, Equatable {
    public var total = 0
    public var pending = 0
    public var inProgress = 0
    public var completed = 0
    public var failed = 0
    public var skipped = 0
    public var rollingBack = 0
    public var rolledBack = 0
    /// Of `failed`: instances whose rollback failed (they were upgraded, then could not go back).
    public var rollbackFailed = 0

    public init() {}

    /// The counts of these rows.
    public init(counting rows: some Sequence<RolloutInstance>) {
        for row in rows { move(from: nil, to: row) }
    }

    /// An instance leaves the state of `old` (nil: it was not counted) and enters the state of `new` (nil: it is gone).
    public mutating func move(from old: RolloutInstance?, to new: RolloutInstance?) {
        if let old { add(-1, old) }
        if let new { add(1, new) }
    }

    private mutating func add(_ delta: Int, _ row: RolloutInstance) {
        total += delta
        switch row.status {
        case .pending: pending += delta
        case .inProgress: inProgress += delta
        case .completed: completed += delta
        case .failed:
            failed += delta
            if row.outcome?.isFailedRollback == true { rollbackFailed += delta }
        case .skipped: skipped += delta
        case .rollingBack: rollingBack += delta
        case .rolledBack: rolledBack += delta
        }
    }
}

/// Whether a halted rollout is moving instances back.
public enum RollbackState: String, Sendable {
    case none, running, done
}

/// A rollout of one image config to the instances of its environment.
public struct Rollout: Sendable, Equatable {
    public var id: String
    public var organizationId: String
    public var serviceId: String
    public var serviceEnvironmentId: String
    public var imageConfigId: String
    public var status: RolloutStatus
    public var policy: RolloutPolicy
    public var counts: RolloutCounts
    /// The wave running or last run; -1 before the first.
    public var currentWave: Int
    public var totalWaves: Int
    public var bakeUntil: Date?
    public var rollback: RollbackState
    public var sourceVersions: [String]
    public var targetVersions: [String]
    public var message: String
    public var createdBy: String
    public var createdAt: Date
    public var startedAt: Date?
    public var updatedAt: Date
    public var finishedAt: Date?
    /// Seconds that completed instances took in all, to estimate what is left.
    public var completedSeconds: Double
    /// What happened last, structured; `message` is rendered from it. Nil for rollouts recorded before notes.
    public var note: RolloutNote?
    /// With `pauseAfterCanary`: the wave after which the rollout waits for `promote`; nil once promoted (or with no gate).
    public var gateAfterWave: Int?
    /// When an operator promoted the rollout past its canary.
    public var promotedAt: Date?
    /// When the rollout last became PAUSED; `pausedTimeoutSeconds` count from here.
    public var pausedAt: Date?
    /// Analysis measurements that failed so far; at the policy's `failureLimit` the rollout halts.
    public var analysisFailures: Int
    /// When the analysis is next measured; nil when it has none or is not running.
    public var nextAnalysisAt: Date?
    /// The last measurement, in words.
    public var lastAnalysis: String?
    /// The last wave a passing measurement followed (with nothing in flight): the next wave may start.
    public var analyzedThroughWave: Int?

    public init(
        id: String, organizationId: String, serviceId: String, serviceEnvironmentId: String, imageConfigId: String, status: RolloutStatus,
        policy: RolloutPolicy, counts: RolloutCounts, currentWave: Int, totalWaves: Int, bakeUntil: Date?, rollback: RollbackState,
        sourceVersions: [String], targetVersions: [String], message: String, createdBy: String, createdAt: Date, startedAt: Date?,
        updatedAt: Date, finishedAt: Date?, completedSeconds: Double, note: RolloutNote? = nil, gateAfterWave: Int? = nil,
        promotedAt: Date? = nil, pausedAt: Date? = nil, analysisFailures: Int = 0, nextAnalysisAt: Date? = nil, lastAnalysis: String? = nil,
        analyzedThroughWave: Int? = nil
    ) {
        self.id = id
        self.organizationId = organizationId
        self.serviceId = serviceId
        self.serviceEnvironmentId = serviceEnvironmentId
        self.imageConfigId = imageConfigId
        self.status = status
        self.policy = policy
        self.counts = counts
        self.currentWave = currentWave
        self.totalWaves = totalWaves
        self.bakeUntil = bakeUntil
        self.rollback = rollback
        self.sourceVersions = sourceVersions
        self.targetVersions = targetVersions
        self.message = message
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.completedSeconds = completedSeconds
        self.note = note
        self.gateAfterWave = gateAfterWave
        self.promotedAt = promotedAt
        self.pausedAt = pausedAt
        self.analysisFailures = analysisFailures
        self.nextAnalysisAt = nextAnalysisAt
        self.lastAnalysis = lastAnalysis
        self.analyzedThroughWave = analyzedThroughWave
    }

    /// Whether its analysis failed `failureLimit` times: nothing more starts, and it halts.
    public var analysisFailed: Bool {
        policy.analysis.map { analysisFailures >= $0.failureLimit } ?? false
    }

    /// Whether the rollout is paused at its canary gate, waiting to be promoted.
    public var isAwaitingPromotion: Bool {
        guard status == .paused, gateAfterWave != nil, case .awaitingPromotion = note else { return false }
        return true
    }

    /// Whether the rollout still drives instances: live, or rolling back after a halt.
    public var isActive: Bool { status.isLive || rollback == .running }

    /// With a sliding window, the wave the window moves over: the last one (the canary wave, if any, comes before).
    public var windowWave: Int? { policy.strategy == .window && totalWaves > 0 ? totalWaves - 1 : nil }

    /// Whether the window is open: instances start as others finish.
    public var isSlidingWindow: Bool { windowWave == currentWave }

    /// When its maintenance window opens, while the rollout waits for it.
    public var windowOpensAt: Date? {
        guard status.isLive, case .awaitingMaintenanceWindow(let opensAt, _, _) = note else { return nil }
        return opensAt
    }

    /// Seconds left, estimated from how long completed instances took (and, while it waits for its maintenance
    /// window, the wait as of its last change); nil until one completed.
    public func estimatedSecondsRemaining() -> Double? {
        guard let work = estimatedSecondsOfWork() else { return nil }
        return work + max(0, windowOpensAt.map { $0.timeIntervalSince(updatedAt) } ?? 0)
    }

    private func estimatedSecondsOfWork() -> Double? {
        guard isActive, counts.completed > 0 else { return nil }
        let perInstance = completedSeconds / Double(counts.completed)
        if isSlidingWindow {
            // Every slot frees once per instance's apply time: the window drains the rest at that pace.
            return Double(counts.pending + counts.inProgress) / Double(policy.maxConcurrentUpgrades) * perInstance
        }
        let remainingWaves = (counts.pending + policy.maxConcurrentUpgrades - 1) / policy.maxConcurrentUpgrades
        let inFlight = counts.inProgress > 0 ? perInstance : 0
        return inFlight + Double(remainingWaves) * (perInstance + Double(policy.bakeSeconds))
    }
}

/// One instance's part in a rollout.
public struct RolloutInstance: Sendable, Equatable {
    public var rolloutId: String
    public var instanceId: String
    public var instanceName: String
    public var wave: Int
    public var sourceVersion: String
    public var targetVersion: String
    public var status: RolloutInstanceStatus
    public var startedAt: Date?
    public var endedAt: Date?
    /// When an instance in flight counts as failed without a report.
    public var deadline: Date?
    /// Why it ended the way it did, or was skipped.
    public var outcome: RolloutInstanceOutcome?

    /// The outcome in words.
    public var reason: String? { outcome?.text }

    public init(
        rolloutId: String, instanceId: String, instanceName: String, wave: Int, sourceVersion: String, targetVersion: String,
        status: RolloutInstanceStatus, startedAt: Date?, endedAt: Date?, deadline: Date? = nil, outcome: RolloutInstanceOutcome?
    ) {
        self.rolloutId = rolloutId
        self.instanceId = instanceId
        self.instanceName = instanceName
        self.wave = wave
        self.sourceVersion = sourceVersion
        self.targetVersion = targetVersion
        self.status = status
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.deadline = deadline
        self.outcome = outcome
    }
}

/// An instance that a rollout would or would not move, for the plan of a dry run.
public struct RolloutCandidate: Sendable, Equatable {
    public var instance: Instance
    public var sourceImage: String?
    public var targetImage: String?
    public var targetVersion: String?
    /// Why the instance is not part of the rollout; nil when it is.
    public var ineligibleReason: String?

    public init(instance: Instance, sourceImage: String?, targetImage: String?, targetVersion: String?, ineligibleReason: String?) {
        self.instance = instance
        self.sourceImage = sourceImage
        self.targetImage = targetImage
        self.targetVersion = targetVersion
        self.ineligibleReason = ineligibleReason
    }
}

/// The plan of a rollout: who moves in which wave, and who does not and why.
public struct RolloutPlan: Sendable {
    public var imageConfigId: String
    public var policy: RolloutPolicy
    public var eligible: [RolloutCandidate]
    public var ineligible: [RolloutCandidate]

    public init(imageConfigId: String, policy: RolloutPolicy, eligible: [RolloutCandidate], ineligible: [RolloutCandidate]) {
        self.imageConfigId = imageConfigId
        self.policy = policy
        self.eligible = eligible
        self.ineligible = ineligible
    }

    /// Instance ids by wave.
    public var waves: [[String]] {
        var waves: [[String]] = Array(repeating: [], count: policy.waveCount(instances: eligible.count))
        for (index, candidate) in eligible.enumerated() { waves[policy.wave(ofInstanceAt: index)].append(candidate.instance.id) }
        return waves
    }
}
