import Foundation
import SlipwayCore

// Instances and agents' reports. What a report does to a rollout is decided by `RolloutStateMachine`;
// this file only loads what it needs and persists what it says.

extension SQLStore: FleetStore {
    // MARK: Instances

    public func registerInstance(
        organizationId: String, serviceId: String, environmentId: String, productTierId: String, name: String, tierVersion: String?,
        agentTokenHash: String, now: Date
    ) async throws -> Instance {
        try await write { db in
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
            } catch SQLFailure.uniqueViolation {
                throw SlipwayError.invalidState("service environment \(environmentId) already has an instance named '\(name)'; choose another name")
            }
            return instance
        }
    }

    static func instance(_ row: SQLRow) -> Instance {
        Instance(
            id: row["id"], organizationId: row["organization_id"], serviceId: row["service_id"],
            serviceEnvironmentId: row["service_environment_id"], productTierId: row["product_tier_id"], name: row["name"],
            currentVersion: row["current_version"], desiredVersion: row["desired_version"], desiredGeneration: row["desired_generation"],
            reportedGeneration: row["reported_generation"], lastReportStatus: row["last_report_status"],
            lastReportMessage: row["last_report_message"], lastReportAt: row["last_report_at"], health: row["health"],
            createdAt: row["created_at"])
    }

    static func instance(id: String, serviceId: String, environmentId: String, organizationId: String, _ db: any SQLSession) throws -> Instance {
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
            var arguments: [any SQLBindable] = [environmentId]
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


    public func deleteInstance(id: String, serviceId: String, environmentId: String, organizationId: String, now: Date) async throws {
        try await write { db in
            _ = try Self.instance(id: id, serviceId: serviceId, environmentId: environmentId, organizationId: organizationId, db)
            if let holder = try db.cachedValue(String.self, sql: "\(Self.holdingRolloutSQL) LIMIT 1", arguments: [id]) {
                throw SlipwayError.invalidState("instance \(id) is part of rollout \(holder), which is still driving it; cancel the rollout or wait for it")
            }
            // Its part in past rollouts goes with it, and their counts follow.
            for row in try db.cachedRows(sql: "SELECT * FROM rollout_instances WHERE instance_id = ?", arguments: [id]).map(Self.rolloutInstance) {
                var machine = RolloutStateMachine(try Self.rollout(id: row.rolloutId, db))
                machine.instanceDeleted(row, now: now)
                try Self.persist(&machine, db)
            }
            if let seq = try db.cachedValue(Int64.self, sql: "DELETE FROM instances WHERE id = ? RETURNING seq", arguments: [id]) {
                db.staleAgentSessions.deleted(seq)
            }
        }
    }

    static let liveStatuses = "(" + RolloutStatus.allCases.filter(\.isLive).map { "'\($0.rawValue)'" }.joined(separator: ", ") + ")"

    /// Rollouts that hold an instance: it is in flight in them, or waits in one that is live.
    static let holdingRolloutSQL = """
        SELECT r.id FROM rollout_instances ri JOIN rollouts r ON r.id = ri.rollout_id
        WHERE ri.instance_id = ? AND (ri.status IN ('IN_PROGRESS', 'ROLLING_BACK')
            OR (ri.status = 'PENDING' AND r.status IN \(SQLStore.liveStatuses)))
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
        let lookUp = { @Sendable in
            try await self.read { db in
                try db.cachedRow(sql: "SELECT seq, id, desired_generation FROM instances WHERE agent_token_hash = ?", arguments: [tokenHash]).map {
                    (rowID: $0["seq"] as Int64, session: AgentSession(instanceId: $0["id"], desiredGeneration: $0["desired_generation"]))
                }
            }
        }
        guard await cachesCurrent() else { return try await lookUp()?.session }
        return try await agents.session(tokenHash: tokenHash, read: lookUp)
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
        try await write { db in
            // One machine per rollout for the whole batch: its row is read and written once, not once per report.
            var machines: [String: RolloutStateMachine] = [:]
            let results = try reports.map { instanceId, report -> Result<String?, SlipwayError> in
                do {
                    return .success(try Self.recordReport(instanceId: instanceId, report: report, now: now, facts: self.knownFacts, machines: &machines, db))
                } catch let error as SlipwayError {
                    return .failure(error)
                }
            }
            for var machine in machines.values { try Self.persist(&machine, db) }
            return results
        }
    }

    /// Records one report on the instance, and hands it to the machine of the rollout it is in flight in.
    /// Refusals are thrown before anything is written. Returns the rollout's id when the engine has work there.
    static func recordReport(
        instanceId: String, report: AgentReport, now: Date, facts: KnownFacts, machines: inout [String: RolloutStateMachine], _ db: any SQLSession
    ) throws -> String? {
        let deleted = SlipwayError.authFailure("this agent's instance was deleted; register the instance again for a new token")
        // The tier and its versions come from memory once seen: a report then costs one statement on the instance.
        let productTierId: String
        if let known = facts.tier(ofInstance: instanceId) {
            productTierId = known
        } else {
            guard let tier = try db.cachedValue(String.self, sql: "SELECT product_tier_id FROM instances WHERE id = ?", arguments: [instanceId])
            else { throw deleted }
            facts.remember(tier: tier, ofInstance: instanceId)
            productTierId = tier
        }
        if !facts.versionExists(report.tierVersion, inTier: productTierId) {
            guard try db.cachedValue(Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM tier_versions WHERE product_tier_id = ? AND version = ?)",
                arguments: [productTierId, report.tierVersion]) == true
            else {
                throw SlipwayError.badRequest(
                    "tierVersion '\(report.tierVersion.prefix(40))' is not a version of product tier \(productTierId); report the version of the desired state")
            }
            facts.remember(version: report.tierVersion, inTier: productTierId)
        }
        guard let desiredGeneration = try db.cachedValue(Int.self, sql: """
                UPDATE instances SET last_report_status = ?, last_report_message = ?, last_report_at = ?, health = ?,
                    reported_generation = COALESCE(?, reported_generation),
                    current_version = CASE WHEN ? THEN ? ELSE current_version END
                WHERE id = ? RETURNING desired_generation
                """,
            arguments: [
                report.status.rawValue, report.message, now, report.health, report.generation,
                report.status == .succeeded, report.tierVersion, instanceId,
            ])
        else { throw deleted }
        guard report.status != .applying,
            let row = try db.cachedRow(sql: "SELECT * FROM rollout_instances WHERE instance_id = ? AND status IN ('IN_PROGRESS', 'ROLLING_BACK')",
                arguments: [instanceId]).map(Self.rolloutInstance)
        else { return nil }
        var machine = try machines[row.rolloutId] ?? RolloutStateMachine(Self.rollout(id: row.rolloutId, db))
        let engineHasWork = machine.report(report, on: row, desiredGeneration: desiredGeneration, now: now)
        if engineHasWork { try db.notify(.rolloutWork, row.rolloutId) }
        // The instance's rows now; the rollout's row once for the whole batch.
        try Self.persistInstances(&machine, db)
        machines[row.rolloutId] = machine
        return engineHasWork ? row.rolloutId : nil
    }

    // MARK: Metrics

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
