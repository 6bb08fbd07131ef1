// Wire types of rollouts beyond the upstream status (Slipway extensions).

/// The optional body of `POST …/image-config/{id}/rollout`. Every field has a default: the upstream SDK sends no body.
public struct RolloutPolicyRequest: Codable, Sendable, Equatable {
    /// Instances upgraded at once (10).
    public var maxConcurrentUpgrades: Int?
    /// Instances in a first wave of their own (0).
    public var canaryCount: Int?
    /// Failed instances that halt the rollout (1).
    public var failureThreshold: Int?
    /// Seconds an instance has to report success (600).
    public var instanceTimeoutSeconds: Int?
    /// Seconds to wait between waves (0).
    public var bakeSeconds: Int?
    /// Roll upgraded instances back when the rollout halts (false).
    public var autoRollback: Bool?
    /// `waves` (the default): batches, each started when the last finished; `window`: after the canary wave, up to
    /// `maxConcurrentUpgrades` in flight, the next starting as soon as one finishes.
    public var strategy: String?
    /// Only these instances (all of the environment's when nil).
    public var selector: RolloutSelectorWire?
    /// After the canary wave (and its bake), wait PAUSED for `POST …/rollout/promote` (false).
    public var pauseAfterCanary: Bool?
    /// RFC 3339: stay SCHEDULED until then (start now when nil).
    public var scheduledAt: String?
    /// Cancel the rollout when it stays PAUSED longer than this (86,400).
    public var pausedTimeoutSeconds: Int?
    /// Start instances only inside this window (any time when nil).
    public var maintenanceWindow: MaintenanceWindowWire?
    /// Evidence to wait for after each wave and halt on (none when nil).
    public var analysis: RolloutAnalysisWire?
    /// Answer the plan and change nothing (false).
    public var dryRun: Bool?

    /// Creates a policy; fields left nil take the server's defaults.
    public init(
        maxConcurrentUpgrades: Int? = nil, canaryCount: Int? = nil, failureThreshold: Int? = nil, instanceTimeoutSeconds: Int? = nil,
        bakeSeconds: Int? = nil, autoRollback: Bool? = nil, strategy: String? = nil, selector: RolloutSelectorWire? = nil,
        pauseAfterCanary: Bool? = nil, scheduledAt: String? = nil, pausedTimeoutSeconds: Int? = nil,
        maintenanceWindow: MaintenanceWindowWire? = nil, analysis: RolloutAnalysisWire? = nil, dryRun: Bool? = nil
    ) {
        self.maxConcurrentUpgrades = maxConcurrentUpgrades
        self.canaryCount = canaryCount
        self.failureThreshold = failureThreshold
        self.instanceTimeoutSeconds = instanceTimeoutSeconds
        self.bakeSeconds = bakeSeconds
        self.autoRollback = autoRollback
        self.strategy = strategy
        self.selector = selector
        self.pauseAfterCanary = pauseAfterCanary
        self.scheduledAt = scheduledAt
        self.pausedTimeoutSeconds = pausedTimeoutSeconds
        self.maintenanceWindow = maintenanceWindow
        self.analysis = analysis
        self.dryRun = dryRun
    }
}

/// A rollout's analysis: an HTTP check (`url`, `expectedStatus`, optionally `jsonPath` and `successCondition`) or a
/// Prometheus query (`prometheusUrl`, `query`, `successCondition` such as `result < 0.01`), measured every
/// `intervalSeconds` while the rollout runs and after each wave; `failureLimit` failures halt it.
public struct RolloutAnalysisWire: Codable, Sendable, Equatable {
    public var url: String?
    public var expectedStatus: Int?
    public var jsonPath: String?
    public var prometheusUrl: String?
    public var query: String?
    public var successCondition: String?
    public var intervalSeconds: Int?
    public var failureLimit: Int?

    /// Creates an analysis; fields left nil take the server's defaults (200, 30 s, 1 failure).
    public init(
        url: String? = nil, expectedStatus: Int? = nil, jsonPath: String? = nil, prometheusUrl: String? = nil, query: String? = nil,
        successCondition: String? = nil, intervalSeconds: Int? = nil, failureLimit: Int? = nil
    ) {
        self.url = url
        self.expectedStatus = expectedStatus
        self.jsonPath = jsonPath
        self.prometheusUrl = prometheusUrl
        self.query = query
        self.successCondition = successCondition
        self.intervalSeconds = intervalSeconds
        self.failureLimit = failureLimit
    }
}

/// When a rollout may start instances: `start` to `end` (HH:MM, local to `timeZone`) from each of `days`.
public struct MaintenanceWindowWire: Codable, Sendable, Equatable {
    /// `Mon` … `Sun`; every day when nil.
    public var days: [String]?
    /// `HH:MM`, 24-hour, e.g. `22:00`.
    public var start: String
    /// `HH:MM`; not after `start` means the next day, e.g. `02:00`.
    public var end: String
    /// An IANA time zone such as `Europe/Berlin`; UTC when nil.
    public var timeZone: String?

    /// Creates a window.
    public init(days: [String]? = nil, start: String, end: String, timeZone: String? = nil) {
        self.days = days
        self.start = start
        self.end = end
        self.timeZone = timeZone
    }
}

/// Which instances a rollout takes: those listed, those carrying every label, or those listed that carry them.
public struct RolloutSelectorWire: Codable, Sendable, Equatable {
    /// Instance ids (`inst-…`) of the image config's environment.
    public var instanceIds: [String]?
    /// Labels an instance must all carry, such as `{"region": "eu"}`.
    public var labels: [String: String]?

    /// Creates a selector.
    public init(instanceIds: [String]? = nil, labels: [String: String]? = nil) {
        self.instanceIds = instanceIds
        self.labels = labels
    }
}

/// Body of `POST …/image-config/{id}/rollout/target-version`.
public struct RetargetRolloutRequest: Codable, Sendable, Equatable {
    /// The tier version (e.g. `2.0`) of each instance's product tier to move to instead.
    public var version: String

    /// Creates the request body.
    public init(version: String) {
        self.version = version
    }
}

/// Body of `POST …/image-config/{id}/rollout/skip`.
public struct SkipRolloutInstancesRequest: Codable, Sendable, Equatable {
    /// Pending instances of the live rollout to leave out.
    public var instanceIds: [String]

    /// Creates the request body.
    public init(instanceIds: [String]) {
        self.instanceIds = instanceIds
    }
}

/// The policy a rollout runs with, every field resolved.
public struct RolloutPolicyResult: Codable, Sendable, Equatable {
    /// Instances upgraded at once: the size of each wave after the canary, or of the window.
    public var maxConcurrentUpgrades: Int
    /// Instances in a first wave of their own; 0 for none.
    public var canaryCount: Int
    /// Failed instances that halt the rollout as FAILED.
    public var failureThreshold: Int
    /// Seconds an instance has to report success at the target version.
    public var instanceTimeoutSeconds: Int
    /// Seconds to wait after a wave before the next (with a window: after the canary wave).
    public var bakeSeconds: Int
    /// Whether a halt moves the upgraded instances back to their source version.
    public var autoRollback: Bool
    /// `waves` or `window`.
    public var strategy: String
    /// The instances it takes; nil for all of the environment's.
    public var selector: RolloutSelectorWire?
    /// Whether it waits for `promote` after the canary wave.
    public var pauseAfterCanary: Bool?
    /// When it starts, RFC 3339 in UTC; nil when it started at once.
    public var scheduledAt: String?
    /// Seconds it may stay PAUSED before it is cancelled.
    public var pausedTimeoutSeconds: Int?
    /// When it may start instances; nil for any time.
    public var maintenanceWindow: MaintenanceWindowWire?
    /// Its analysis, every field resolved; nil for none.
    public var analysis: RolloutAnalysisWire?

    /// Creates a resolved policy.
    public init(
        maxConcurrentUpgrades: Int, canaryCount: Int, failureThreshold: Int, instanceTimeoutSeconds: Int, bakeSeconds: Int, autoRollback: Bool,
        strategy: String = "waves", selector: RolloutSelectorWire? = nil, pauseAfterCanary: Bool? = nil, scheduledAt: String? = nil,
        pausedTimeoutSeconds: Int? = nil, maintenanceWindow: MaintenanceWindowWire? = nil, analysis: RolloutAnalysisWire? = nil
    ) {
        self.maxConcurrentUpgrades = maxConcurrentUpgrades
        self.canaryCount = canaryCount
        self.failureThreshold = failureThreshold
        self.instanceTimeoutSeconds = instanceTimeoutSeconds
        self.bakeSeconds = bakeSeconds
        self.autoRollback = autoRollback
        self.strategy = strategy
        self.selector = selector
        self.pauseAfterCanary = pauseAfterCanary
        self.scheduledAt = scheduledAt
        self.pausedTimeoutSeconds = pausedTimeoutSeconds
        self.maintenanceWindow = maintenanceWindow
        self.analysis = analysis
    }
}

/// Response of `GET …/image-config/{id}/rollout`: the upstream `status`, and the truth behind it.
public struct RolloutStatusResult: Codable, Sendable, Equatable {
    /// `SCHEDULED`, `PENDING`, `PENDING_DEPENDENCY`, `RUNNING`, `PAUSED`, `COMPLETE`, `FAILED` or `CANCELLED`.
    public var status: String
    /// The rollout (upgrade path) id (`up-…`).
    public var id: String
    /// The image config being rolled out (`imgc-…`).
    public var imageConfigId: String
    /// The service environment of the image config (`se-…`).
    public var serviceEnvironmentId: String
    /// Instances in the rollout.
    public var total: Int
    /// Instances not started yet.
    public var pending: Int
    /// Instances told to upgrade that have not reported the outcome yet.
    public var inProgress: Int
    /// Instances that reported success at the target version.
    public var completed: Int
    /// Instances that reported failure or timed out.
    public var failed: Int
    /// Instances left out, e.g. by a cancel.
    public var skipped: Int
    /// Instances moving back to their source version after a halt.
    public var rollingBack: Int
    /// Instances back at their source version.
    public var rolledBack: Int
    /// 1-based; 0 before the first wave.
    public var currentWave: Int
    /// The number of waves in the rollout.
    public var totalWaves: Int
    /// Tier versions the instances ran before.
    public var sourceVersions: [String]
    /// Tier versions the instances move to.
    public var targetVersions: [String]
    /// What the rollout is doing or why it stopped.
    public var message: String
    /// Estimated seconds until the rollout finishes, once an instance completed.
    public var etaSeconds: Double?
    /// The policy the rollout runs with, every field resolved.
    public var policy: RolloutPolicyResult
    /// Email of the user who started the rollout.
    public var createdBy: String
    /// When the rollout was created, RFC 3339 in UTC.
    public var createdAt: String
    /// When the rollout started, RFC 3339 in UTC; nil until then.
    public var startedAt: String?
    /// When the rollout last changed, RFC 3339 in UTC.
    public var updatedAt: String
    /// When the rollout finished, RFC 3339 in UTC; nil while it is live.
    public var finishedAt: String?
    /// Whether it is PAUSED after its canary wave, waiting for `POST …/rollout/promote`.
    public var awaitingPromotion: Bool?
    /// When it was promoted past its canary wave, RFC 3339 in UTC.
    public var promotedAt: String?
    /// When it became PAUSED, RFC 3339 in UTC; nil unless PAUSED.
    public var pausedAt: String?
    /// While it waits for its maintenance window: when the window opens, RFC 3339 in UTC.
    public var windowOpensAt: String?
    /// With an analysis: its last measurement, in words.
    public var lastAnalysis: String?
    /// With an analysis: how many measurements failed.
    public var analysisFailures: Int?

    /// Creates the response body.
    public init(
        status: String, id: String, imageConfigId: String, serviceEnvironmentId: String, total: Int, pending: Int, inProgress: Int,
        completed: Int, failed: Int, skipped: Int, rollingBack: Int, rolledBack: Int, currentWave: Int, totalWaves: Int,
        sourceVersions: [String], targetVersions: [String], message: String, etaSeconds: Double?, policy: RolloutPolicyResult,
        createdBy: String, createdAt: String, startedAt: String?, updatedAt: String, finishedAt: String?, awaitingPromotion: Bool? = nil,
        promotedAt: String? = nil, pausedAt: String? = nil, windowOpensAt: String? = nil, lastAnalysis: String? = nil, analysisFailures: Int? = nil
    ) {
        self.status = status
        self.id = id
        self.imageConfigId = imageConfigId
        self.serviceEnvironmentId = serviceEnvironmentId
        self.total = total
        self.pending = pending
        self.inProgress = inProgress
        self.completed = completed
        self.failed = failed
        self.skipped = skipped
        self.rollingBack = rollingBack
        self.rolledBack = rolledBack
        self.currentWave = currentWave
        self.totalWaves = totalWaves
        self.sourceVersions = sourceVersions
        self.targetVersions = targetVersions
        self.message = message
        self.etaSeconds = etaSeconds
        self.policy = policy
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.awaitingPromotion = awaitingPromotion
        self.promotedAt = promotedAt
        self.pausedAt = pausedAt
        self.windowOpensAt = windowOpensAt
        self.lastAnalysis = lastAnalysis
        self.analysisFailures = analysisFailures
    }
}

/// Response of `GET …/image-config/{id}/rollouts`: past rollouts, oldest first.
public struct ListRolloutsResult: Codable, Sendable, Equatable {
    /// One page of rollouts, oldest first.
    public var rollouts: [RolloutStatusResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(rollouts: [RolloutStatusResult], nextPageToken: String? = nil) {
        self.rollouts = rollouts
        self.nextPageToken = nextPageToken
    }
}

/// One instance's part in a rollout.
public struct RolloutInstanceResult: Codable, Sendable, Equatable {
    /// The rollout (`up-…`).
    public var rolloutId: String
    /// The instance (`inst-…`).
    public var instanceId: String
    /// The instance's name.
    public var instanceName: String
    /// 1-based.
    public var wave: Int
    /// `PENDING`, `IN_PROGRESS`, `COMPLETED`, `FAILED`, `SKIPPED`, `ROLLING_BACK` or `ROLLED_BACK`.
    public var status: String
    /// The tier version the instance ran before.
    public var sourceVersion: String
    /// The tier version it moves to.
    public var targetVersion: String
    /// When it was told to upgrade, RFC 3339 in UTC; nil until then.
    public var startedAt: String?
    /// When its part ended, RFC 3339 in UTC; nil until then.
    public var endedAt: String?
    /// Why it failed, was skipped or rolled back.
    public var reason: String?

    /// Creates a rollout instance entry.
    public init(
        rolloutId: String, instanceId: String, instanceName: String, wave: Int, status: String, sourceVersion: String, targetVersion: String,
        startedAt: String?, endedAt: String?, reason: String?
    ) {
        self.rolloutId = rolloutId
        self.instanceId = instanceId
        self.instanceName = instanceName
        self.wave = wave
        self.status = status
        self.sourceVersion = sourceVersion
        self.targetVersion = targetVersion
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.reason = reason
    }
}

/// Response of `GET …/image-config/{id}/rollout/instances`.
public struct ListRolloutInstancesResult: Codable, Sendable, Equatable {
    /// One page of the rollout's instances, in rollout order.
    public var instances: [RolloutInstanceResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(instances: [RolloutInstanceResult], nextPageToken: String? = nil) {
        self.instances = instances
        self.nextPageToken = nextPageToken
    }
}

/// An instance in the plan of a dry run.
public struct RolloutPlanInstance: Codable, Sendable, Equatable {
    /// The instance (`inst-…`).
    public var instanceId: String
    /// The instance's name.
    public var instanceName: String
    /// The product tier the instance deploys (`pt-…`).
    public var productTierId: String
    /// The tier version the instance runs.
    public var sourceVersion: String
    /// The tier version it would move to; nil when it stays.
    public var targetVersion: String?
    /// Its image for this config now.
    public var sourceImage: String?
    /// Its image for this config after the rollout.
    public var targetImage: String?
    /// 1-based; nil for an instance the rollout leaves alone.
    public var wave: Int?
    /// Why the rollout leaves it alone.
    public var reason: String?

    /// Creates a plan entry.
    public init(
        instanceId: String, instanceName: String, productTierId: String, sourceVersion: String, targetVersion: String?, sourceImage: String?,
        targetImage: String?, wave: Int?, reason: String?
    ) {
        self.instanceId = instanceId
        self.instanceName = instanceName
        self.productTierId = productTierId
        self.sourceVersion = sourceVersion
        self.targetVersion = targetVersion
        self.sourceImage = sourceImage
        self.targetImage = targetImage
        self.wave = wave
        self.reason = reason
    }
}

/// Response of a dry run: what a rollout would do, changing nothing.
public struct RolloutPlanResult: Codable, Sendable, Equatable {
    /// Always true.
    public var dryRun: Bool
    /// The image config the rollout would roll out (`imgc-…`).
    public var imageConfigId: String
    /// The policy the rollout would run with, every field resolved.
    public var policy: RolloutPolicyResult
    /// Instances the rollout would move, in order.
    public var eligible: [RolloutPlanInstance]
    /// Instances it would leave alone, each with a reason.
    public var ineligible: [RolloutPlanInstance]
    /// Instance ids by wave; with a canary, the first wave is the canary.
    public var waves: [[String]]

    /// Creates the response body.
    public init(
        dryRun: Bool, imageConfigId: String, policy: RolloutPolicyResult, eligible: [RolloutPlanInstance], ineligible: [RolloutPlanInstance],
        waves: [[String]]
    ) {
        self.dryRun = dryRun
        self.imageConfigId = imageConfigId
        self.policy = policy
        self.eligible = eligible
        self.ineligible = ineligible
        self.waves = waves
    }
}
