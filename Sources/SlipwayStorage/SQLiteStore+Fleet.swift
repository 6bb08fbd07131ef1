import Foundation
import GRDB
import SlipwayCore

// Instances, agent reports and rollouts. Counters on the rollout row move in the same transaction as
// each instance's transition, so no step ever scans a whole fleet.

extension SQLiteStore: FleetStore {
    // MARK: Instances

    public func registerInstance(
        organizationId: String, serviceId: String, environmentId: String, productTierId: String, name: String, tierVersion: String?,
        agentTokenHash: String, now: Date
    ) async throws -> Instance {
        try await pool.write { db in
            _ = try Self.environment(id: environmentId, serviceId: serviceId, organizationId: organizationId, db)
            let tier = try Self.productTier(id: productTierId, serviceId: serviceId, organizationId: organizationId, db)
            guard tier.serviceEnvironmentId == environmentId else {
                throw SlipwayError.badRequest(
                    "product tier \(productTierId) belongs to service environment \(tier.serviceEnvironmentId), not \(environmentId)")
            }
            let version: String
            if let tierVersion {
                guard try db.cachedValue(Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM tier_versions WHERE product_tier_id = ? AND version = ?)",
                    arguments: [productTierId, tierVersion]) == true
                else { throw SlipwayError.notFound("product tier \(productTierId) has no version '\(tierVersion.prefix(40))'") }
                version = tierVersion
            } else {
                guard let preferred = tier.preferredVersion else {
                    throw SlipwayError.invalidState(
                        "product tier \(productTierId) has no released version yet; release an image config into it before registering instances")
                }
                version = preferred
            }
            let instance = Instance(
                id: Identifiers.new(.instance), organizationId: organizationId, serviceId: serviceId, serviceEnvironmentId: environmentId,
                productTierId: productTierId, name: name, currentVersion: version, desiredVersion: version, desiredGeneration: 1, createdAt: now)
            do {
                try db.cachedExecute(sql: """
                        INSERT INTO instances (id, organization_id, service_id, service_environment_id, product_tier_id, name, agent_token_hash,
                            current_version, desired_version, desired_generation, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        instance.id, organizationId, serviceId, environmentId, productTierId, name, agentTokenHash, version, version, 1, now,
                    ])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw SlipwayError.invalidState("service environment \(environmentId) already has an instance named '\(name)'; choose another name")
            }
            return instance
        }
    }

    static func instance(_ row: Row) -> Instance {
        Instance(
            id: row["id"], organizationId: row["organization_id"], serviceId: row["service_id"],
            serviceEnvironmentId: row["service_environment_id"], productTierId: row["product_tier_id"], name: row["name"],
            currentVersion: row["current_version"], desiredVersion: row["desired_version"], desiredGeneration: row["desired_generation"],
            reportedGeneration: row["reported_generation"], lastReportStatus: row["last_report_status"],
            lastReportMessage: row["last_report_message"], lastReportAt: row["last_report_at"], health: row["health"],
            createdAt: row["created_at"])
    }

    static func instance(id: String, serviceId: String, environmentId: String, organizationId: String, _ db: Database) throws -> Instance {
        _ = try environment(id: environmentId, serviceId: serviceId, organizationId: organizationId, db)
        guard
            let row = try db.cachedRow(sql: "SELECT * FROM instances WHERE id = ? AND service_environment_id = ?", arguments: [id, environmentId])
        else { throw SlipwayError.notFound(.instance, id) }
        return instance(row)
    }

    public func instance(id: String, serviceId: String, environmentId: String, organizationId: String) async throws -> Instance {
        try await read { db in
            try Self.instance(id: id, serviceId: serviceId, environmentId: environmentId, organizationId: organizationId, db)
        }
    }

    public func instances(
        serviceId: String, environmentId: String, organizationId: String, filter: InstanceFilter, page: PageRequest
    ) async throws -> Page<Instance> {
        try await read { db in
            _ = try Self.environment(id: environmentId, serviceId: serviceId, organizationId: organizationId, db)
            var sql = "SELECT * FROM instances WHERE service_environment_id = ?"
            var arguments: StatementArguments = [environmentId]
            if let tier = filter.productTierId {
                sql += " AND product_tier_id = ?"
                arguments += [tier]
            }
            if let version = filter.tierVersion {
                sql += " AND current_version = ?"
                arguments += [version]
            }
            if let status = filter.status {
                if status == "UNKNOWN" {
                    sql += " AND last_report_status IS NULL"
                } else {
                    sql += " AND last_report_status = ?"
                    arguments += [status]
                }
            }
            return try Self.page(db, sql: sql, arguments: arguments, page: page) { Self.instance($0) }
        }
    }

    public func deleteInstance(id: String, serviceId: String, environmentId: String, organizationId: String) async throws {
        try await pool.write { db in
            _ = try Self.instance(id: id, serviceId: serviceId, environmentId: environmentId, organizationId: organizationId, db)
            if let holder = try db.cachedValue(String.self, sql: "\(Self.holdingRolloutSQL) LIMIT 1", arguments: [id]) {
                throw SlipwayError.invalidState("instance \(id) is part of rollout \(holder), which is still driving it; cancel the rollout or wait for it")
            }
            try db.cachedExecute(sql: "DELETE FROM instances WHERE id = ?", arguments: [id])
        }
    }

    /// `('PENDING', …)`: the statuses of rollouts that may still start instances, as ``RolloutStatus/isLive`` says, for SQL.
    static let liveStatuses = "(" + RolloutStatus.allCases.filter(\.isLive).map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"

    /// Rollouts that hold an instance: it is in flight in them, or waits in one that is live.
    static let holdingRolloutSQL = """
        SELECT r.id FROM rollout_instances ri JOIN rollouts r ON r.id = ri.rollout_id
        WHERE ri.instance_id = ? AND (ri.status IN ('IN_PROGRESS', 'ROLLING_BACK')
            OR (ri.status = 'PENDING' AND r.status IN \(SQLiteStore.liveStatuses)))
        """

    public func upgradeHistory(instanceId: String, limit: Int) async throws -> [RolloutInstance] {
        try await read { db in
            try db.cachedRows(
                sql: """
                    SELECT ri.*, i.name AS instance_name FROM rollout_instances ri JOIN instances i ON i.id = ri.instance_id
                    JOIN rollouts r ON r.id = ri.rollout_id
                    WHERE ri.instance_id = ? ORDER BY r.seq DESC LIMIT ?
                    """,
                arguments: [instanceId, limit]
            ).map(Self.rolloutInstance)
        }
    }

    // MARK: Agents

    public func agentSession(tokenHash: String) async throws -> AgentSession? {
        try await agents.session(tokenHash: tokenHash) {
            try await read { db in
                try db.cachedRow(sql: "SELECT seq, id, desired_generation FROM instances WHERE agent_token_hash = ?", arguments: [tokenHash]).map {
                    (rowID: $0["seq"], session: AgentSession(instanceId: $0["id"], desiredGeneration: $0["desired_generation"]))
                }
            }
        }
    }

    public func desiredState(instanceId: String) async throws -> DesiredState {
        try await read { db in
            guard let row = try db.cachedRow(sql: "SELECT * FROM instances WHERE id = ?", arguments: [instanceId]) else {
                throw SlipwayError.authFailure("this agent's instance was deleted; register the instance again for a new token")
            }
            let instance = Self.instance(row)
            // A tier version never changes once released, so its images are read once and kept.
            let key = "\(instance.productTierId)|\(instance.desiredVersion)"
            let images: [ImageConfigSnapshot]
            if let known = self.releasedImages.withLock({ $0[key] }) {
                images = known
            } else {
                let versions = try db.cachedRows(
                    sql: "SELECT * FROM tier_versions WHERE product_tier_id = ? AND version = ?",
                    arguments: [instance.productTierId, instance.desiredVersion])
                images = try Self.tierVersions(versions, serviceId: instance.serviceId, db).first?.images ?? []
                self.releasedImages.withLock { cache in
                    if cache.count >= 10_000 { cache.removeAll(keepingCapacity: true) }
                    cache[key] = images
                }
            }
            return DesiredState(instanceId: instance.id, generation: instance.desiredGeneration, tierVersion: instance.desiredVersion, images: images)
        }
    }

    public func recordReports(_ reports: [(instanceId: String, report: AgentReport)], now: Date) async throws -> [Result<String?, SlipwayError>] {
        try await pool.write { db in
            try reports.map { instanceId, report in
                do {
                    var moved: String?
                    // A savepoint each: one refused report must not undo the others of the batch.
                    try db.inSavepoint {
                        moved = try Self.recordReport(instanceId: instanceId, report: report, now: now, db)
                        return .commit
                    }
                    return .success(moved)
                } catch let error as SlipwayError {
                    return .failure(error)
                }
            }
        }
    }

    /// Records one report: the instance's last report and version, and its rollout's progress.
    static func recordReport(instanceId: String, report: AgentReport, now: Date, _ db: Database) throws -> String? {
        // Only the two columns needed: decoding a whole instance row was a visible cost per report.
        guard let instanceRow = try db.cachedRow(sql: "SELECT product_tier_id, desired_generation FROM instances WHERE id = ?", arguments: [instanceId])
        else {
            throw SlipwayError.authFailure("this agent's instance was deleted; register the instance again for a new token")
        }
        let productTierId: String = instanceRow[0]
        let desiredGeneration: Int = instanceRow[1]
        guard try db.cachedValue(Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM tier_versions WHERE product_tier_id = ? AND version = ?)",
            arguments: [productTierId, report.tierVersion]) == true
        else {
            throw SlipwayError.badRequest(
                "tierVersion '\(report.tierVersion.prefix(40))' is not a version of product tier \(productTierId); report the version of the desired state")
        }
        let aboutCurrentDesire = report.generation == nil || report.generation == desiredGeneration
        try db.cachedExecute(sql: """
                UPDATE instances SET last_report_status = ?, last_report_message = ?, last_report_at = ?, health = ?,
                    reported_generation = COALESCE(?, reported_generation),
                    current_version = CASE WHEN ? THEN ? ELSE current_version END
                WHERE id = ?
                """,
            arguments: [
                report.status.rawValue, report.message, now, report.health, report.generation,
                report.status == .succeeded, report.tierVersion, instanceId,
            ])
        guard aboutCurrentDesire, report.status != .applying,
            let row = try db.cachedRow(sql: "SELECT * FROM rollout_instances WHERE instance_id = ? AND status IN ('IN_PROGRESS', 'ROLLING_BACK')",
                arguments: [instanceId])
        else { return nil }
        let rolloutId: String = row["rollout_id"]
        let rollingBack = (row["status"] as String) == RolloutInstanceStatus.rollingBack.rawValue
        let expected: String = rollingBack ? row["source_version"] : row["target_version"]
        let startedAt: Double = row["started_at"] ?? now.timeIntervalSince1970
        let message = (report.message ?? "").prefix(500)
        switch (report.status, rollingBack) {
        case (.succeeded, false) where report.tierVersion == expected:
            try Self.finish(row, as: .completed, reason: nil, now: now, db)
            try db.cachedExecute(sql: "UPDATE rollouts SET in_progress = in_progress - 1, completed = completed + 1, completed_seconds = completed_seconds + ?, updated_at = ? WHERE id = ?",
                arguments: [now.timeIntervalSince1970 - startedAt, now, rolloutId])
        case (.succeeded, true) where report.tierVersion == expected:
            try Self.finish(row, as: .rolledBack, reason: "rolled back to \(expected)", now: now, db)
            try db.cachedExecute(sql: "UPDATE rollouts SET rolling_back = rolling_back - 1, rolled_back = rolled_back + 1, updated_at = ? WHERE id = ?",
                arguments: [now, rolloutId])
        case (.failed, false):
            try Self.finish(row, as: .failed, reason: "the agent reported failure: \(message)", now: now, db)
            try db.cachedExecute(sql: "UPDATE rollouts SET in_progress = in_progress - 1, failed = failed + 1, updated_at = ? WHERE id = ?", arguments: [now, rolloutId])
        case (.failed, true):
            try Self.finish(row, as: .failed, reason: "rollback failed: \(message)", now: now, db)
            try db.cachedExecute(sql: "UPDATE rollouts SET rolling_back = rolling_back - 1, failed = failed + 1, updated_at = ? WHERE id = ?",
                arguments: [now, rolloutId])
        default:
            return nil
        }
        // The engine has work only once the wave (or the rollback) has nothing left in flight.
        let left = try db.cachedValue(Int.self, sql: "SELECT \(rollingBack ? "rolling_back" : "in_progress") FROM rollouts WHERE id = ?", arguments: [rolloutId]) ?? 0
        return left == 0 ? rolloutId : nil
    }

    /// Ends one instance's part in a rollout.
    static func finish(_ row: Row, as status: RolloutInstanceStatus, reason: String?, now: Date, _ db: Database) throws {
        try db.cachedExecute(sql: "UPDATE rollout_instances SET status = ?, ended_at = ?, deadline = NULL, reason = ? WHERE rollout_id = ? AND instance_id = ?",
            arguments: [status.rawValue, now.timeIntervalSince1970, reason, row["rollout_id"] as String, row["instance_id"] as String])
    }

    // MARK: Rollouts

    public func createRollout(
        imageConfigId: String, serviceId: String, organizationId: String, policy: RolloutPolicy, createdBy: String, dryRun: Bool, now: Date
    ) async throws -> (plan: RolloutPlan, rollout: Rollout?) {
        let work = { @Sendable (db: Database) throws -> (RolloutPlan, Rollout?) in
            let config = try Self.imageConfig(id: imageConfigId, serviceId: serviceId, organizationId: organizationId, db)
            guard try db.cachedValue(Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM tier_version_images WHERE image_config_id = ?)", arguments: [imageConfigId]) == true
            else {
                throw SlipwayError.invalidState(
                    "image config \(imageConfigId) has not been released yet; release it with POST …/image-config/\(imageConfigId)/release first")
            }
            if let active = try db.cachedRow(sql: """
                    SELECT id, status FROM rollouts WHERE image_config_id = ?
                    AND (status IN \(Self.liveStatuses) OR rollback = 'running') ORDER BY seq DESC LIMIT 1
                    """,
                arguments: [imageConfigId])
            {
                throw SlipwayError.invalidState(
                    "rollout \(active["id"] as String) of image config \(imageConfigId) is still \(active["status"] as String); "
                        + "wait for it to finish, or cancel it with POST …/rollout/cancel, before starting another")
            }
            let plan = try Self.plan(config: config, policy: policy, db)
            guard !dryRun else { return (plan, nil) }
            let rollout = try Self.insertRollout(plan: plan, config: config, organizationId: organizationId, createdBy: createdBy, now: now, db)
            return (plan, rollout)
        }
        return dryRun ? try await read(work) : try await pool.write(work)
    }

    /// Which instances of the environment need the image config's preferred release, and which do not and why.
    static func plan(config: ImageConfig, policy: RolloutPolicy, _ db: Database) throws -> RolloutPlan {
        var snapshots: [String: ImageConfigSnapshot?] = [:]  // "tier|version" → this config's snapshot
        func snapshot(tier: String, version: String) throws -> ImageConfigSnapshot? {
            let key = "\(tier)|\(version)"
            if let cached = snapshots[key] { return cached }
            let rows = try db.cachedRows( sql: "SELECT * FROM tier_versions WHERE product_tier_id = ? AND version = ?", arguments: [tier, version])
            let found = try tierVersions(rows, serviceId: config.serviceId, db).first?.images.first { $0.imageConfigId == config.id }
            snapshots[key] = .some(found)
            return found
        }
        var preferred: [String: String?] = [:]
        var eligible: [RolloutCandidate] = []
        var ineligible: [RolloutCandidate] = []
        let rows = try db.cachedRows( sql: "SELECT * FROM instances WHERE service_environment_id = ? ORDER BY seq", arguments: [config.serviceEnvironmentId])
        for row in rows {
            let instance = Self.instance(row)
            if preferred[instance.productTierId] == nil {
                preferred[instance.productTierId] = .some(
                    try db.cachedValue(String.self, sql: "SELECT version FROM tier_versions WHERE product_tier_id = ? AND status = 'Preferred'",
                        arguments: [instance.productTierId]))
            }
            let source = try snapshot(tier: instance.productTierId, version: instance.currentVersion)
            guard let target = preferred[instance.productTierId] ?? nil else {
                ineligible.append(.init(instance: instance, sourceImage: source?.imageReference, targetImage: nil, targetVersion: nil,
                    ineligibleReason: "product tier \(instance.productTierId) has no released version"))
                continue
            }
            guard let targetImage = try snapshot(tier: instance.productTierId, version: target) else {
                ineligible.append(.init(instance: instance, sourceImage: source?.imageReference, targetImage: nil, targetVersion: target,
                    ineligibleReason: "the preferred version \(target) of product tier \(instance.productTierId) does not include image config \(config.id)"))
                continue
            }
            let candidate = RolloutCandidate(
                instance: instance, sourceImage: source?.imageReference, targetImage: targetImage.imageReference, targetVersion: target,
                ineligibleReason: nil)
            if let source, source.imageReference == targetImage.imageReference, source.spec.commands == targetImage.spec.commands,
                source.spec.args == targetImage.spec.args
            {
                var skipped = candidate
                skipped.ineligibleReason = "already runs \(source.imageReference) (version \(instance.currentVersion))"
                ineligible.append(skipped)
            } else {
                eligible.append(candidate)
            }
        }
        return RolloutPlan(imageConfigId: config.id, policy: policy, eligible: eligible, ineligible: ineligible)
    }

    static func insertRollout(plan: RolloutPlan, config: ImageConfig, organizationId: String, createdBy: String, now: Date, _ db: Database) throws -> Rollout {
        let id = Identifiers.new(.rollout)
        let eligible = plan.eligible
        let sources = Array(Set(eligible.map(\.instance.currentVersion))).sorted()
        let targets = Array(Set(eligible.compactMap(\.targetVersion))).sorted()
        let empty = eligible.isEmpty
        let message =
            empty
            ? "no instance needs a change: \(plan.ineligible.count) instance(s) already run the preferred image or cannot take it"
            : "\(eligible.count) instance(s) to upgrade in \(plan.policy.waveCount(instances: eligible.count)) wave(s)"
        try db.cachedExecute(sql: """
                INSERT INTO rollouts (id, organization_id, service_id, service_environment_id, image_config_id, status, policy, total, pending,
                    current_wave, total_waves, rollback, source_versions, target_versions, message, created_by, created_at, updated_at, finished_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, -1, ?, 'none', ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                id, organizationId, config.serviceId, config.serviceEnvironmentId, config.id,
                (empty ? RolloutStatus.complete : RolloutStatus.pending).rawValue, encodeJSON(plan.policy), eligible.count, eligible.count,
                plan.policy.waveCount(instances: eligible.count), encodeJSON(sources), encodeJSON(targets), message, createdBy, now, now,
                empty ? now : nil,
            ])
        for (index, candidate) in eligible.enumerated() {
            try db.cachedExecute(sql: """
                    INSERT INTO rollout_instances (rollout_id, instance_id, seq, wave, source_version, target_version, status)
                    VALUES (?, ?, ?, ?, ?, ?, 'PENDING')
                    """,
                arguments: [id, candidate.instance.id, index + 1, plan.policy.wave(ofInstanceAt: index), candidate.instance.currentVersion,
                    candidate.targetVersion])
        }
        if !empty, try dependencyLive(rolloutId: id, db) {
            try db.cachedExecute(sql: "UPDATE rollouts SET status = 'PENDING_DEPENDENCY', message = ? WHERE id = ?",
                arguments: ["waiting for an earlier rollout that holds some of the same instances; " + message, id])
        }
        return try rollout(id: id, db)
    }

    /// Whether an earlier live rollout holds any instance this rollout still has to start.
    static func dependencyLive(rolloutId: String, _ db: Database) throws -> Bool {
        try db.cachedValue(Bool.self,
            sql: """
                SELECT EXISTS (
                    SELECT 1 FROM rollout_instances mine
                    JOIN rollout_instances other ON other.instance_id = mine.instance_id AND other.rollout_id != mine.rollout_id
                    JOIN rollouts r ON r.id = other.rollout_id
                    WHERE mine.rollout_id = ? AND mine.status = 'PENDING'
                    AND (other.status IN ('IN_PROGRESS', 'ROLLING_BACK')
                        OR (other.status = 'PENDING' AND r.status IN \(Self.liveStatuses)
                            AND r.seq < (SELECT seq FROM rollouts WHERE id = ?))))
                """,
            arguments: [rolloutId, rolloutId]) ?? false
    }

    static func rollout(_ row: Row) -> Rollout {
        var counts = RolloutCounts()
        counts.total = row["total"]
        counts.pending = row["pending"]
        counts.inProgress = row["in_progress"]
        counts.completed = row["completed"]
        counts.failed = row["failed"]
        counts.skipped = row["skipped"]
        counts.rollingBack = row["rolling_back"]
        counts.rolledBack = row["rolled_back"]
        let bakeUntil: Double? = row["bake_until"]
        return Rollout(
            id: row["id"], organizationId: row["organization_id"], serviceId: row["service_id"],
            serviceEnvironmentId: row["service_environment_id"], imageConfigId: row["image_config_id"],
            status: RolloutStatus(rawValue: row["status"]) ?? .failed, policy: decodeJSON(row["policy"]) ?? RolloutPolicy(), counts: counts,
            currentWave: row["current_wave"], totalWaves: row["total_waves"], bakeUntil: bakeUntil.map(Date.init(timeIntervalSince1970:)),
            rollback: RollbackState(rawValue: row["rollback"]) ?? .none, sourceVersions: decodeJSON(row["source_versions"]) ?? [],
            targetVersions: decodeJSON(row["target_versions"]) ?? [], message: row["message"], createdBy: row["created_by"],
            createdAt: row["created_at"], startedAt: row["started_at"], updatedAt: row["updated_at"], finishedAt: row["finished_at"],
            completedSeconds: row["completed_seconds"])
    }

    static func rollout(id: String, _ db: Database) throws -> Rollout {
        guard let row = try db.cachedRow(sql: "SELECT * FROM rollouts WHERE id = ?", arguments: [id]) else {
            throw SlipwayError.notFound(.rollout, id)
        }
        return rollout(row)
    }

    static func latestRollout(imageConfigId: String, serviceId: String, organizationId: String, _ db: Database) throws -> Rollout {
        _ = try imageConfig(id: imageConfigId, serviceId: serviceId, organizationId: organizationId, db)
        guard let row = try db.cachedRow(sql: "SELECT * FROM rollouts WHERE image_config_id = ? ORDER BY seq DESC LIMIT 1", arguments: [imageConfigId])
        else { throw SlipwayError.notFound("image config \(imageConfigId) has never been rolled out; start with POST …/image-config/\(imageConfigId)/rollout") }
        return rollout(row)
    }

    public func latestRollout(imageConfigId: String, serviceId: String, organizationId: String) async throws -> Rollout {
        try await read { db in try Self.latestRollout(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId, db) }
    }

    public func rollouts(imageConfigId: String, serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<Rollout> {
        try await read { db in
            _ = try Self.imageConfig(id: imageConfigId, serviceId: serviceId, organizationId: organizationId, db)
            return try Self.page(db, sql: "SELECT * FROM rollouts WHERE image_config_id = ?", arguments: [imageConfigId], page: page) { Self.rollout($0) }
        }
    }

    static func rolloutInstance(_ row: Row) -> RolloutInstance {
        let started: Double? = row["started_at"]
        let ended: Double? = row["ended_at"]
        return RolloutInstance(
            rolloutId: row["rollout_id"], instanceId: row["instance_id"], instanceName: row["instance_name"], wave: row["wave"],
            sourceVersion: row["source_version"], targetVersion: row["target_version"],
            status: RolloutInstanceStatus(rawValue: row["status"]) ?? .failed, startedAt: started.map(Date.init(timeIntervalSince1970:)),
            endedAt: ended.map(Date.init(timeIntervalSince1970:)), reason: row["reason"])
    }

    public func rolloutInstances(rolloutId: String, page: PageRequest) async throws -> Page<RolloutInstance> {
        try await read { db in
            try Self.page(
                db, sql: "SELECT ri.*, i.name AS instance_name FROM rollout_instances ri JOIN instances i ON i.id = ri.instance_id WHERE ri.rollout_id = ?",
                arguments: [rolloutId], page: page, order: "ri.seq"
            ) { Self.rolloutInstance($0) }
        }
    }

    /// Changes the latest rollout of an image config, if `change` allows it in its current state.
    private func control(
        imageConfigId: String, serviceId: String, organizationId: String, _ change: @escaping @Sendable (Rollout, Database) throws -> Void
    ) async throws -> Rollout {
        try await pool.write { db in
            let rollout = try Self.latestRollout(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId, db)
            try change(rollout, db)
            return try Self.rollout(id: rollout.id, db)
        }
    }

    public func pauseRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { rollout, db in
            guard [.pending, .pendingDependency, .running].contains(rollout.status) else {
                throw SlipwayError.invalidState("rollout \(rollout.id) is \(rollout.status.rawValue); only a PENDING or RUNNING rollout can be paused")
            }
            try db.cachedExecute(sql: "UPDATE rollouts SET status = 'PAUSED', message = ?, updated_at = ? WHERE id = ?",
                arguments: ["paused: no new wave starts until resumed; \(rollout.counts.inProgress) instance(s) in flight finish on their own", now, rollout.id])
        }
    }

    public func resumeRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { rollout, db in
            guard rollout.status == .paused else {
                throw SlipwayError.invalidState("rollout \(rollout.id) is \(rollout.status.rawValue); only a PAUSED rollout can be resumed")
            }
            // One that never started checks its dependencies again first.
            let status: RolloutStatus = rollout.startedAt == nil ? .pendingDependency : .running
            try db.cachedExecute(sql: "UPDATE rollouts SET status = ?, message = 'resumed', updated_at = ? WHERE id = ?", arguments: [status.rawValue, now, rollout.id])
        }
    }

    public func cancelRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { rollout, db in
            guard rollout.status.isLive else {
                throw SlipwayError.invalidState("rollout \(rollout.id) is already \(rollout.status.rawValue); only a live rollout can be cancelled")
            }
            let skipped = try Self.skipPending(rolloutId: rollout.id, reason: "the rollout was cancelled before this instance started", now: now, db)
            try db.cachedExecute(sql: "UPDATE rollouts SET status = 'CANCELLED', finished_at = ?, updated_at = ?, message = ? WHERE id = ?",
                arguments: [
                    now, now,
                    "cancelled: \(skipped) instance(s) were not started; \(rollout.counts.inProgress) in flight finish on their own",
                    rollout.id,
                ])
        }
    }

    public func retryRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { rollout, db in
            guard [.failed, .cancelled].contains(rollout.status), rollout.rollback != .running else {
                throw SlipwayError.invalidState(
                    "rollout \(rollout.id) is \(rollout.status.rawValue)\(rollout.rollback == .running ? " and rolling back" : ""); "
                        + "only a FAILED or CANCELLED rollout that has settled can be retried")
            }
            let rows = try db.cachedRows(
                sql: """
                    SELECT ri.instance_id, ri.status FROM rollout_instances ri JOIN instances i ON i.id = ri.instance_id
                    WHERE ri.rollout_id = ? AND ri.status IN ('FAILED', 'SKIPPED', 'ROLLED_BACK') AND i.current_version != ri.target_version
                    ORDER BY ri.seq
                    """,
                arguments: [rollout.id])
            guard !rows.isEmpty else {
                throw SlipwayError.invalidState("rollout \(rollout.id) has no instance left to retry: every instance reached its target")
            }
            var counts = (failed: 0, skipped: 0, rolledBack: 0)
            let firstWave = rollout.currentWave + 1
            for (index, row) in rows.enumerated() {
                switch RolloutInstanceStatus(rawValue: row["status"]) {
                case .failed: counts.failed += 1
                case .skipped: counts.skipped += 1
                default: counts.rolledBack += 1
                }
                try db.cachedExecute(sql: """
                        UPDATE rollout_instances SET status = 'PENDING', wave = ?, started_at = NULL, ended_at = NULL, deadline = NULL, reason = NULL
                        WHERE rollout_id = ? AND instance_id = ?
                        """,
                    arguments: [firstWave + rollout.policy.wave(ofInstanceAt: index), rollout.id, row["instance_id"] as String])
            }
            try db.cachedExecute(sql: """
                    UPDATE rollouts SET status = 'PENDING_DEPENDENCY', rollback = 'none', finished_at = NULL, bake_until = NULL, updated_at = ?,
                        pending = pending + ?, failed = failed - ?, skipped = skipped - ?, rolled_back = rolled_back - ?,
                        total_waves = ?, message = ?
                    WHERE id = ?
                    """,
                arguments: [
                    now, rows.count, counts.failed, counts.skipped, counts.rolledBack, firstWave + rollout.policy.waveCount(instances: rows.count),
                    "retrying \(rows.count) instance(s) that did not reach their target", rollout.id,
                ])
        }
    }

    /// Marks every not-yet-started instance of a rollout SKIPPED; returns how many.
    static func skipPending(rolloutId: String, reason: String, now: Date, _ db: Database) throws -> Int {
        try db.cachedExecute(sql: "UPDATE rollout_instances SET status = 'SKIPPED', ended_at = ?, reason = ? WHERE rollout_id = ? AND status = 'PENDING'",
            arguments: [now.timeIntervalSince1970, reason, rolloutId])
        let skipped = db.changesCount
        try db.cachedExecute(sql: "UPDATE rollouts SET pending = pending - ?, skipped = skipped + ? WHERE id = ?", arguments: [skipped, skipped, rolloutId])
        return skipped
    }

    // MARK: The engine

    public func activeRolloutIDs() async throws -> [String] {
        try await read { db in
            try db.cachedValues(String.self,
                sql: """
                    SELECT id FROM rollouts WHERE status IN \(Self.liveStatuses) OR rollback = 'running'
                    ORDER BY seq
                    """)
        }
    }

    public func advanceRollout(id: String, now: Date) async throws -> (changedInstances: [String], wakeAt: Date?) {
        try await pool.write { db in
            var changed: [String] = []
            while true {
                let rollout = try Self.rollout(id: id, db)
                let dependencyLive = rollout.status == .pendingDependency ? try Self.dependencyLive(rolloutId: id, db) : false
                switch RolloutStateMachine.next(rollout, now: now, dependencyLive: dependencyLive) {
                case .wait(let until):
                    return (changed, until)
                case .waitForDependency:
                    return (changed, nil)
                case .start:
                    try db.cachedExecute(sql: "UPDATE rollouts SET status = 'RUNNING', started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ?",
                        arguments: [now, now, id])
                case .bake(let until):
                    try db.cachedExecute(sql: "UPDATE rollouts SET bake_until = ?, message = ?, updated_at = ? WHERE id = ?",
                        arguments: [
                            until.timeIntervalSince1970, "baking \(rollout.policy.bakeSeconds) s after wave \(rollout.currentWave + 1) before the next", now, id,
                        ])
                    return (changed, until)
                case .startWave(let wave):
                    changed += try Self.startWave(wave, of: rollout, now: now, db)
                case .complete:
                    try db.cachedExecute(sql: "UPDATE rollouts SET status = 'COMPLETE', finished_at = ?, updated_at = ?, message = ? WHERE id = ?",
                        arguments: [
                            now, now,
                            "complete: \(rollout.counts.completed) instance(s) upgraded to \(rollout.targetVersions.joined(separator: ", "))"
                                + (rollout.counts.skipped > 0 ? ", \(rollout.counts.skipped) skipped" : ""),
                            id,
                        ])
                case .halt:
                    changed += try Self.halt(rollout, now: now, db)
                case .finishRollback:
                    let failedRollbacks = try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM rollout_instances WHERE rollout_id = ? AND reason LIKE 'rollback failed:%'", arguments: [id]) ?? 0
                    try db.cachedExecute(sql: "UPDATE rollouts SET rollback = 'done', updated_at = ?, message = ? WHERE id = ?",
                        arguments: [
                            now,
                            rollout.message.replacingOccurrences(of: "; rolling back", with: "; rolled back")
                                + (failedRollbacks > 0 ? " (\(failedRollbacks) rollback(s) failed)" : ""),
                            id,
                        ])
                }
            }
        }
    }

    /// Tells the instances of a wave to move to their target version; returns the ones told.
    static func startWave(_ wave: Int, of rollout: Rollout, now: Date, _ db: Database) throws -> [String] {
        let rows = try db.cachedRows(
            sql: """
                SELECT ri.instance_id, ri.target_version, i.current_version, i.desired_version FROM rollout_instances ri
                JOIN instances i ON i.id = ri.instance_id
                WHERE ri.rollout_id = ? AND ri.wave = ? AND ri.status = 'PENDING'
                """,
            arguments: [rollout.id, wave])
        var started: [String] = []
        var skipped = 0
        let deadline = now.timeIntervalSince1970 + Double(rollout.policy.instanceTimeoutSeconds)
        for row in rows {
            let instanceId: String = row["instance_id"]
            let target: String = row["target_version"]
            if (row["current_version"] as String) == target && (row["desired_version"] as String) == target {
                try db.cachedExecute(sql: "UPDATE rollout_instances SET status = 'SKIPPED', ended_at = ?, reason = ? WHERE rollout_id = ? AND instance_id = ?",
                    arguments: [now.timeIntervalSince1970, "already at version \(target) when its wave started", rollout.id, instanceId])
                skipped += 1
                continue
            }
            try db.cachedExecute(sql: "UPDATE instances SET desired_version = ?, desired_generation = desired_generation + 1 WHERE id = ?", arguments: [target, instanceId])
            try db.cachedExecute(sql: "UPDATE rollout_instances SET status = 'IN_PROGRESS', started_at = ?, deadline = ? WHERE rollout_id = ? AND instance_id = ?",
                arguments: [now.timeIntervalSince1970, deadline, rollout.id, instanceId])
            started.append(instanceId)
        }
        let isCanary = rollout.policy.canaryCount > 0 && wave == 0
        try db.cachedExecute(sql: """
                UPDATE rollouts SET current_wave = ?, bake_until = NULL, pending = pending - ?, in_progress = in_progress + ?, skipped = skipped + ?,
                    updated_at = ?, message = ?
                WHERE id = ?
                """,
            arguments: [
                wave, rows.count, started.count, skipped, now,
                "\(isCanary ? "canary wave" : "wave \(wave + 1) of \(rollout.totalWaves)"): \(started.count) instance(s) upgrading", rollout.id,
            ])
        return started
    }

    /// Stops a rollout at its failure threshold: skips what did not start and, if asked, rolls back what it upgraded.
    static func halt(_ rollout: Rollout, now: Date, _ db: Database) throws -> [String] {
        let skipped = try skipPending(rolloutId: rollout.id, reason: "the rollout halted at its failure threshold before this instance started", now: now, db)
        var message = "failed: \(rollout.counts.failed) instance(s) failed, reaching the failure threshold of \(rollout.policy.failureThreshold)"
        if skipped > 0 { message += "; \(skipped) instance(s) were not started" }
        var rolledBack: [String] = []
        if rollout.policy.autoRollback {
            let rows = try db.cachedRows( sql: "SELECT instance_id, source_version FROM rollout_instances WHERE rollout_id = ? AND status = 'COMPLETED'",
                arguments: [rollout.id])
            let deadline = now.timeIntervalSince1970 + Double(rollout.policy.instanceTimeoutSeconds)
            for row in rows {
                let instanceId: String = row["instance_id"]
                try db.cachedExecute(sql: "UPDATE instances SET desired_version = ?, desired_generation = desired_generation + 1 WHERE id = ?",
                    arguments: [row["source_version"] as String, instanceId])
                try db.cachedExecute(sql: "UPDATE rollout_instances SET status = 'ROLLING_BACK', started_at = ?, ended_at = NULL, deadline = ? WHERE rollout_id = ? AND instance_id = ?",
                    arguments: [now.timeIntervalSince1970, deadline, rollout.id, instanceId])
                rolledBack.append(instanceId)
            }
            message += "; rolling back \(rows.count) upgraded instance(s) to their source version"
        } else if rollout.counts.completed > 0 {
            message += "; \(rollout.counts.completed) upgraded instance(s) stay on the target version (autoRollback is off)"
        }
        try db.cachedExecute(sql: """
                UPDATE rollouts SET status = 'FAILED', finished_at = ?, updated_at = ?, message = ?, rollback = ?,
                    completed = completed - ?, rolling_back = rolling_back + ?
                WHERE id = ?
                """,
            arguments: [now, now, message, rollout.policy.autoRollback ? "running" : "none", rolledBack.count, rolledBack.count, rollout.id])
        return rolledBack
    }

    public func expireDeadlines(now: Date) async throws -> [String] {
        try await pool.write { db in
            let rows = try db.cachedRows( sql: "SELECT * FROM rollout_instances WHERE deadline IS NOT NULL AND deadline <= ?", arguments: [now.timeIntervalSince1970])
            var rollouts: [String: Rollout] = [:]
            for row in rows {
                let rolloutId: String = row["rollout_id"]
                // A wave times out together: read its rollout once, not once per instance.
                let rollout = try rollouts[rolloutId] ?? Self.rollout(id: rolloutId, db)
                rollouts[rolloutId] = rollout
                if (row["status"] as String) == RolloutInstanceStatus.rollingBack.rawValue {
                    try Self.finish(row, as: .failed, reason: "rollback failed: no report within \(rollout.policy.instanceTimeoutSeconds) s", now: now, db)
                    try db.cachedExecute(sql: "UPDATE rollouts SET rolling_back = rolling_back - 1, failed = failed + 1, updated_at = ? WHERE id = ?", arguments: [now, rolloutId])
                } else {
                    try Self.finish(
                        row, as: .failed, reason: "no successful report within \(rollout.policy.instanceTimeoutSeconds) s (instanceTimeoutSeconds)",
                        now: now, db)
                    try db.cachedExecute(sql: "UPDATE rollouts SET in_progress = in_progress - 1, failed = failed + 1, updated_at = ? WHERE id = ?", arguments: [now, rolloutId])
                }
            }
            return Array(rollouts.keys)
        }
    }

    public func nextDeadline() async throws -> Date? {
        try await read { db in
            try db.cachedValue(Double.self, sql: "SELECT MIN(deadline) FROM rollout_instances WHERE deadline IS NOT NULL").map(Date.init(timeIntervalSince1970:))
        }
    }

    public func fleetSummary() async throws -> FleetSummary {
        try await read { db in
            let instances = try db.cachedValue(Int.self, sql: "SELECT COUNT(*) FROM instances") ?? 0
            var byStatus: [RolloutStatus: Int] = [:]
            for row in try db.cachedRows(sql: "SELECT status, COUNT(*) AS n FROM rollouts GROUP BY status", arguments: []) {
                if let status = RolloutStatus(rawValue: row["status"]) { byStatus[status] = row["n"] }
            }
            return FleetSummary(instances: instances, rolloutsByStatus: byStatus)
        }
    }
}

/// The JSON columns' coders, made once: rollout rows (with their policy and versions) are decoded on every engine pass.
private let columnEncoder = JSONEncoder()
private let columnDecoder = JSONDecoder()

func encodeJSON(_ value: some Encodable) -> String {
    (try? columnEncoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
}

func decodeJSON<T: Decodable>(_ text: String?) -> T? {
    guard let text else { return nil }
    return try? columnDecoder.decode(T.self, from: Data(text.utf8))
}
