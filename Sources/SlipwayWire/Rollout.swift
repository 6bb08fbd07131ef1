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
    /// Answer the plan and change nothing (false).
    public var dryRun: Bool?

    public init(
        maxConcurrentUpgrades: Int? = nil, canaryCount: Int? = nil, failureThreshold: Int? = nil, instanceTimeoutSeconds: Int? = nil,
        bakeSeconds: Int? = nil, autoRollback: Bool? = nil, dryRun: Bool? = nil
    ) {
        self.maxConcurrentUpgrades = maxConcurrentUpgrades
        self.canaryCount = canaryCount
        self.failureThreshold = failureThreshold
        self.instanceTimeoutSeconds = instanceTimeoutSeconds
        self.bakeSeconds = bakeSeconds
        self.autoRollback = autoRollback
        self.dryRun = dryRun
    }
}

/// The policy a rollout runs with, every field resolved.
public struct RolloutPolicyResult: Codable, Sendable, Equatable {
    public var maxConcurrentUpgrades: Int
    public var canaryCount: Int
    public var failureThreshold: Int
    public var instanceTimeoutSeconds: Int
    public var bakeSeconds: Int
    public var autoRollback: Bool

    public init(maxConcurrentUpgrades: Int, canaryCount: Int, failureThreshold: Int, instanceTimeoutSeconds: Int, bakeSeconds: Int, autoRollback: Bool) {
        self.maxConcurrentUpgrades = maxConcurrentUpgrades
        self.canaryCount = canaryCount
        self.failureThreshold = failureThreshold
        self.instanceTimeoutSeconds = instanceTimeoutSeconds
        self.bakeSeconds = bakeSeconds
        self.autoRollback = autoRollback
    }
}

/// Response of `GET …/image-config/{id}/rollout`: the upstream `status`, and the truth behind it.
public struct RolloutStatusResult: Codable, Sendable, Equatable {
    /// `PENDING`, `PENDING_DEPENDENCY`, `RUNNING`, `PAUSED`, `COMPLETE`, `FAILED` or `CANCELLED`.
    public var status: String
    public var id: String
    public var imageConfigId: String
    public var serviceEnvironmentId: String
    public var total: Int
    public var pending: Int
    public var inProgress: Int
    public var completed: Int
    public var failed: Int
    public var skipped: Int
    public var rollingBack: Int
    public var rolledBack: Int
    /// 1-based; 0 before the first wave.
    public var currentWave: Int
    public var totalWaves: Int
    public var sourceVersions: [String]
    public var targetVersions: [String]
    public var message: String
    /// Estimated seconds until the rollout finishes, once an instance completed.
    public var etaSeconds: Double?
    public var policy: RolloutPolicyResult
    public var createdBy: String
    public var createdAt: String
    public var startedAt: String?
    public var updatedAt: String
    public var finishedAt: String?

    public init(
        status: String, id: String, imageConfigId: String, serviceEnvironmentId: String, total: Int, pending: Int, inProgress: Int,
        completed: Int, failed: Int, skipped: Int, rollingBack: Int, rolledBack: Int, currentWave: Int, totalWaves: Int,
        sourceVersions: [String], targetVersions: [String], message: String, etaSeconds: Double?, policy: RolloutPolicyResult,
        createdBy: String, createdAt: String, startedAt: String?, updatedAt: String, finishedAt: String?
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
    }
}

/// Response of `GET …/image-config/{id}/rollouts`: past rollouts, oldest first.
public struct ListRolloutsResult: Codable, Sendable, Equatable {
    public var rollouts: [RolloutStatusResult]
    public var nextPageToken: String?

    public init(rollouts: [RolloutStatusResult], nextPageToken: String? = nil) {
        self.rollouts = rollouts
        self.nextPageToken = nextPageToken
    }
}

/// One instance's part in a rollout.
public struct RolloutInstanceResult: Codable, Sendable, Equatable {
    public var rolloutId: String
    public var instanceId: String
    public var instanceName: String
    /// 1-based.
    public var wave: Int
    /// `PENDING`, `IN_PROGRESS`, `COMPLETED`, `FAILED`, `SKIPPED`, `ROLLING_BACK` or `ROLLED_BACK`.
    public var status: String
    public var sourceVersion: String
    public var targetVersion: String
    public var startedAt: String?
    public var endedAt: String?
    public var reason: String?

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
    public var instances: [RolloutInstanceResult]
    public var nextPageToken: String?

    public init(instances: [RolloutInstanceResult], nextPageToken: String? = nil) {
        self.instances = instances
        self.nextPageToken = nextPageToken
    }
}

/// An instance in the plan of a dry run.
public struct RolloutPlanInstance: Codable, Sendable, Equatable {
    public var instanceId: String
    public var instanceName: String
    public var productTierId: String
    public var sourceVersion: String
    public var targetVersion: String?
    public var sourceImage: String?
    public var targetImage: String?
    /// 1-based; nil for an instance the rollout leaves alone.
    public var wave: Int?
    /// Why the rollout leaves it alone.
    public var reason: String?

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
    public var dryRun: Bool
    public var imageConfigId: String
    public var policy: RolloutPolicyResult
    public var eligible: [RolloutPlanInstance]
    public var ineligible: [RolloutPlanInstance]
    /// Instance ids by wave; with a canary, the first wave is the canary.
    public var waves: [[String]]

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
