import Foundation
import SlipwayCore
import SlipwayWire

extension InstanceResult {
    init(_ instance: Instance, images: [ImageConfigSnapshot]? = nil, history: [RolloutInstance]? = nil) {
        self.init(
            id: instance.id, name: instance.name, serviceId: instance.serviceId, serviceEnvironmentId: instance.serviceEnvironmentId,
            productTierId: instance.productTierId, tierVersion: instance.currentVersion, desiredTierVersion: instance.desiredVersion,
            desiredGeneration: instance.desiredGeneration,
            images: images?.map { InstanceImage(imageConfigId: $0.imageConfigId, image: $0.imageReference) },
            lastReport: instance.lastReportStatus.map { status in
                InstanceReportResult(
                    status: status, message: instance.lastReportMessage, generation: instance.reportedGeneration,
                    reportedAt: (instance.lastReportAt ?? instance.createdAt).rfc3339)
            },
            health: instance.health, createdAt: instance.createdAt.rfc3339, upgradeHistory: history?.map(RolloutInstanceResult.init),
            labels: instance.labels)
    }
}

extension DesiredStateResult {
    init(_ state: DesiredState) {
        self.init(
            instanceId: state.instanceId, generation: state.generation, tierVersion: state.tierVersion,
            images: state.images.map { image in
                AgentImage(
                    imageConfigId: image.imageConfigId, image: image.imageReference, registryHost: image.registryHost,
                    imageName: image.spec.imageName, imageTag: image.spec.imageTag, commands: image.spec.commands, args: image.spec.args,
                    imageSignaturePublicKeyPEM: image.spec.publicKeyPEM, registryInsecure: image.registryInsecure, imageDigest: image.imageDigest)
            })
    }
}

extension RolloutPolicyResult {
    init(_ policy: RolloutPolicy) {
        self.init(
            maxConcurrentUpgrades: policy.maxConcurrentUpgrades, canaryCount: policy.canaryCount, failureThreshold: policy.failureThreshold,
            instanceTimeoutSeconds: policy.instanceTimeoutSeconds, bakeSeconds: policy.bakeSeconds, autoRollback: policy.autoRollback,
            strategy: policy.strategy.rawValue,
            selector: policy.selector.map { RolloutSelectorWire(instanceIds: $0.instanceIds, labels: $0.labels) },
            pauseAfterCanary: policy.pauseAfterCanary, scheduledAt: policy.scheduledAt?.rfc3339, pausedTimeoutSeconds: policy.pausedTimeoutSeconds,
            maintenanceWindow: policy.maintenanceWindow.map {
                MaintenanceWindowWire(days: $0.days, start: $0.start, end: $0.end, timeZone: $0.timeZone)
            },
            analysis: policy.analysis.map {
                RolloutAnalysisWire(
                    url: $0.url, expectedStatus: $0.url == nil ? nil : $0.expectedStatus, jsonPath: $0.jsonPath, prometheusUrl: $0.prometheusUrl,
                    query: $0.query, successCondition: $0.successCondition, intervalSeconds: $0.intervalSeconds, failureLimit: $0.failureLimit)
            })
    }
}

extension RolloutPolicy {
    /// The policy a request asks for, defaults filled in and bounds checked (a schedule against `now`).
    init(_ request: RolloutPolicyRequest, now: Date) throws {
        self.init()
        if let value = request.maxConcurrentUpgrades { maxConcurrentUpgrades = value }
        if let value = request.canaryCount { canaryCount = value }
        if let value = request.failureThreshold { failureThreshold = value }
        if let value = request.instanceTimeoutSeconds { instanceTimeoutSeconds = value }
        if let value = request.bakeSeconds { bakeSeconds = value }
        if let value = request.autoRollback { autoRollback = value }
        if let value = request.strategy {
            guard let chosen = RolloutStrategy(rawValue: value) else {
                throw SlipwayError.badRequest("strategy must be \"waves\" or \"window\", got \"\(value.prefix(utf8Bytes: 100))\"")
            }
            strategy = chosen
        }
        selector = request.selector.map { RolloutSelector(instanceIds: $0.instanceIds, labels: $0.labels) }
        if let value = request.pauseAfterCanary { pauseAfterCanary = value }
        if let value = request.scheduledAt {
            guard let date = RFC3339.date(value) else {
                throw SlipwayError.badRequest(
                    "scheduledAt must be an RFC 3339 date-time such as 2026-12-24T09:00:00Z, got \"\(value.prefix(utf8Bytes: 100))\"")
            }
            scheduledAt = date
        }
        if let value = request.pausedTimeoutSeconds { pausedTimeoutSeconds = value }
        maintenanceWindow = try request.maintenanceWindow.map {
            try MaintenanceWindow(days: $0.days, start: $0.start, end: $0.end, timeZone: $0.timeZone)
        }
        analysis = request.analysis.map {
            RolloutAnalysis(
                url: $0.url, expectedStatus: $0.expectedStatus ?? 200, jsonPath: $0.jsonPath, prometheusUrl: $0.prometheusUrl, query: $0.query,
                successCondition: $0.successCondition, intervalSeconds: $0.intervalSeconds ?? 30, failureLimit: $0.failureLimit ?? 1)
        }
        try validate(now: now)
    }
}

extension RolloutStatusResult {
    init(_ rollout: Rollout) {
        let counts = rollout.counts
        self.init(
            status: rollout.status.rawValue, id: rollout.id, imageConfigId: rollout.imageConfigId,
            serviceEnvironmentId: rollout.serviceEnvironmentId, total: counts.total, pending: counts.pending, inProgress: counts.inProgress,
            completed: counts.completed, failed: counts.failed, skipped: counts.skipped, rollingBack: counts.rollingBack,
            rolledBack: counts.rolledBack, currentWave: rollout.currentWave + 1, totalWaves: rollout.totalWaves,
            sourceVersions: rollout.sourceVersions, targetVersions: rollout.targetVersions, message: rollout.message,
            etaSeconds: rollout.estimatedSecondsRemaining().map { ($0 * 10).rounded() / 10 }, policy: RolloutPolicyResult(rollout.policy),
            createdBy: rollout.createdBy, createdAt: rollout.createdAt.rfc3339, startedAt: rollout.startedAt?.rfc3339,
            updatedAt: rollout.updatedAt.rfc3339, finishedAt: rollout.finishedAt?.rfc3339,
            awaitingPromotion: rollout.isAwaitingPromotion, promotedAt: rollout.promotedAt?.rfc3339,
            pausedAt: rollout.status == .paused ? rollout.pausedAt?.rfc3339 : nil, windowOpensAt: rollout.windowOpensAt?.rfc3339,
            lastAnalysis: rollout.policy.analysis == nil ? nil : rollout.lastAnalysis,
            analysisFailures: rollout.policy.analysis == nil ? nil : rollout.analysisFailures)
    }
}

extension RolloutInstanceResult {
    init(_ entry: RolloutInstance) {
        self.init(
            rolloutId: entry.rolloutId, instanceId: entry.instanceId, instanceName: entry.instanceName, wave: entry.wave + 1,
            status: entry.status.rawValue, sourceVersion: entry.sourceVersion, targetVersion: entry.targetVersion,
            startedAt: entry.startedAt?.rfc3339, endedAt: entry.endedAt?.rfc3339, reason: entry.reason)
    }
}

extension RolloutPlanResult {
    init(_ plan: RolloutPlan) {
        let waveOf = Dictionary(uniqueKeysWithValues: plan.waves.enumerated().flatMap { wave, ids in ids.map { ($0, wave + 1) } })
        func entry(_ candidate: RolloutCandidate) -> RolloutPlanInstance {
            RolloutPlanInstance(
                instanceId: candidate.instance.id, instanceName: candidate.instance.name, productTierId: candidate.instance.productTierId,
                sourceVersion: candidate.instance.currentVersion, targetVersion: candidate.targetVersion, sourceImage: candidate.sourceImage,
                targetImage: candidate.targetImage, wave: waveOf[candidate.instance.id], reason: candidate.ineligibleReason)
        }
        self.init(
            dryRun: true, imageConfigId: plan.imageConfigId, policy: RolloutPolicyResult(plan.policy), eligible: plan.eligible.map(entry),
            ineligible: plan.ineligible.map(entry), waves: plan.waves)
    }
}
