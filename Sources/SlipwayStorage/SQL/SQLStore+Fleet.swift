import Foundation
import SlipwayCore

// Instances and agents' reports. What a report does to a rollout is decided by `RolloutStateMachine`;
// this file only loads what it needs and persists what it says.

extension SQLStore: FleetStore {
    // MARK: Instances

    public func registerInstance(
        organizationId: String, serviceId: String, environmentId: String, productTierId: String, name: String, tierVersion: String?,
        labels: [String: String], agentTokenHash: String, now: Date
    ) async throws -> Instance {
        try await write(readingFirst: quotaReading(.instances, organizationId: organizationId)) { db in
            _ = try Self.environment(id: environmentId, serviceId: serviceId, organizationId: organizationId, db)
            let tier = try Self.productTier(id: productTierId, serviceId: serviceId, organizationId: organizationId, db)
            guard tier.serviceEnvironmentId == environmentId else {
                throw SlipwayError.badRequest(
                    "product tier \(productTierId) belongs to service environment \(tier.serviceEnvironmentId), not \(environmentId)")
            }
            try self.checkQuota(.instances, organizationId: organizationId, db)
            let version: String
            if let tierVersion {
                guard let status = try db.cachedValue(String.self, sql: "SELECT status FROM tier_versions WHERE product_tier_id = ? AND version = ?",
                    arguments: [productTierId, tierVersion])
                else { throw SlipwayError.notFound("product tier \(productTierId) has no version '\(tierVersion.prefix(40))'") }
                try VersionLifecycle.checkRegistration(at: tierVersion, productTierId: productTierId, status: TierVersionStatus(rawValue: status) ?? .active)
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
                productTierId: productTierId, name: name, currentVersion: version, desiredVersion: version, desiredGeneration: 1, createdAt: now,
                labels: labels)
            do {
                try db.cachedExecute(sql: """
                        INSERT INTO instances (id, organization_id, service_id, service_environment_id, product_tier_id, name, agent_token_hash,
                            current_version, desired_version, desired_generation, created_at, labels)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        instance.id, organizationId, serviceId, environmentId, productTierId, name, agentTokenHash, version, version, 1, now,
                        encodeJSON(labels),
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
            createdAt: row["created_at"], labels: decodeJSON(row["labels"]) ?? [:])
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

    public func setInstanceLabels(
        id: String, serviceId: String, environmentId: String, organizationId: String, labels: [String: String]
    ) async throws -> Instance {
        try await write { db in
            var instance = try Self.instance(id: id, serviceId: serviceId, environmentId: environmentId, organizationId: organizationId, db)
            try db.cachedExecute(sql: "UPDATE instances SET labels = ? WHERE id = ?", arguments: [encodeJSON(labels), id])
            instance.labels = labels
            return instance
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
    /// Live, or still being planned: a rollout that counts against the quota and keeps its image config.
    static let liveOrPlanningStatuses = "(" + (RolloutStatus.allCases.filter(\.isLive) + [.planning]).map { "'\($0.rawValue)'" }
        .joined(separator: ", ") + ")"

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
        try await write { db in try Self.recordReports(reports, now: now, facts: self.knownFacts, db) }
    }

    /// Records a batch of agents' reports in a few statements, whatever its size: the reports are checked
    /// (from memory once the facts are known), then written a group of alike reports at a time, and each is
    /// handed to the machine of the rollout it is in flight in. One machine per rollout for the whole batch:
    /// its rows and its own row are written once, at the end. A refused report writes nothing and leaves the
    /// others as they are. Each result is the rollout's id when the engine has work there.
    static func recordReports(
        _ reports: [(instanceId: String, report: AgentReport)], now: Date, facts: KnownFacts, _ db: any SQLSession
    ) throws -> [Result<String?, SlipwayError>] {
        let deleted = SlipwayError.authFailure("this agent's instance was deleted; register the instance again for a new token")
        var results = [Result<String?, SlipwayError>](repeating: .success(nil), count: reports.count)
        var machines: [String: RolloutStateMachine] = [:]
        var effects: [String: RolloutStateMachine.Effects] = [:]
        var rolloutOrder: [String] = []
        var notified: Set<String> = []
        /// Each instance's row in flight, once read: `.some(nil)` when it has none.
        var inFlight: [String: RolloutInstance?] = [:]

        // Phases in which no instance reports twice, so that a phase's writes can be grouped and still land in order.
        var phaseStart = 0
        while phaseStart < reports.count {
            var seen: Set<String> = []
            var phaseEnd = phaseStart
            while phaseEnd < reports.count, seen.insert(reports[phaseEnd].instanceId).inserted { phaseEnd += 1 }
            let phase = phaseStart..<phaseEnd
            phaseStart = phaseEnd

            // Checked before anything is written.
            var valid: [Int] = []
            for index in phase {
                let (instanceId, report) = reports[index]
                do {
                    try checkReport(instanceId: instanceId, report: report, facts: facts, deleted: deleted, db)
                    valid.append(index)
                } catch let error as SlipwayError {
                    results[index] = .failure(error)
                }
            }
            // The instances, a group of alike reports at a time; an instance deleted meanwhile has no row to update.
            struct ReportValues: Hashable {
                var status: String, message: String?, health: String?, generation: Int?, tierVersion: String
            }
            var groups: [ReportValues: [Int]] = [:]
            var groupOrder: [ReportValues] = []
            for index in valid {
                let report = reports[index].report
                let values = ReportValues(
                    status: report.status.rawValue, message: report.message, health: report.health, generation: report.generation,
                    tierVersion: report.tierVersion)
                if groups[values] == nil { groupOrder.append(values) }
                groups[values, default: []].append(index)
            }
            var desiredGeneration: [String: Int] = [:]
            for values in groupOrder {
                for chunk in SQLStore.idChunks(groups[values]!.map { reports[$0].instanceId }) {
                    let rows = try db.cachedRows(
                        sql: """
                            UPDATE instances SET last_report_status = ?, last_report_message = ?, last_report_at = ?, health = ?,
                                reported_generation = COALESCE(?, reported_generation),
                                current_version = CASE WHEN ? THEN ? ELSE current_version END
                            WHERE id IN (\(SQLStore.placeholders(chunk.count))) RETURNING id, desired_generation
                            """,
                        arguments: [
                            values.status, values.message, now, values.health, values.generation,
                            values.status == AgentReportStatus.succeeded.rawValue, values.tierVersion,
                        ] + chunk.map { $0 as any SQLBindable })
                    for row in rows { desiredGeneration[row[0]] = row[1] }
                }
            }
            var recorded: [Int] = []
            for index in valid {
                if desiredGeneration[reports[index].instanceId] == nil {
                    results[index] = .failure(deleted)
                } else if reports[index].report.status != .applying {
                    recorded.append(index)
                }
            }
            // The rows in flight not known yet, in one read per chunk.
            let unknown = recorded.map { reports[$0].instanceId }.filter { inFlight[$0] == nil }
            for id in unknown { inFlight[id] = .some(nil) }
            for chunk in SQLStore.idChunks(unknown) {
                let rows = try db.cachedRows(
                    sql: """
                        SELECT * FROM rollout_instances WHERE instance_id IN (\(SQLStore.placeholders(chunk.count)))
                        AND status IN ('IN_PROGRESS', 'ROLLING_BACK') ORDER BY seq
                        """,
                    arguments: chunk.map { $0 as any SQLBindable })
                for row in rows.map(Self.rolloutInstance) where inFlight[row.instanceId] == .some(nil) { inFlight[row.instanceId] = row }
            }
            // Each report to its rollout's machine, in the order they came.
            for index in recorded {
                let (instanceId, report) = reports[index]
                guard let row = inFlight[instanceId] ?? nil else { continue }
                if machines[row.rolloutId] == nil {
                    machines[row.rolloutId] = RolloutStateMachine(try Self.rollout(id: row.rolloutId, db))
                    rolloutOrder.append(row.rolloutId)
                }
                let engineHasWork = machines[row.rolloutId]!.report(report, on: row, desiredGeneration: desiredGeneration[instanceId]!, now: now)
                let changes = machines[row.rolloutId]!.takeInstanceEffects()
                for changed in changes.rows {
                    inFlight[changed.instanceId] = [.inProgress, .rollingBack].contains(changed.status) ? changed : .some(nil)
                }
                effects[row.rolloutId, default: .init()].append(changes)
                if engineHasWork {
                    if notified.insert(row.rolloutId).inserted { try db.notify(.rolloutWork, row.rolloutId) }
                    results[index] = .success(row.rolloutId)
                }
            }
        }
        for rolloutId in rolloutOrder {
            let changes = effects[rolloutId] ?? .init()
            try writeInstanceEffects(changes, rolloutId: rolloutId, db)
            try Self.persist(&machines[rolloutId]!, db)
            try Self.enqueueRolloutEvents(changes.events, rollout: machines[rolloutId]!.rollout, db)
        }
        return results
    }

    /// Refuses a report from an instance that is gone or for a version its tier does not have. The instance's
    /// tier and the tier's versions never change once written, so they are read once and then known.
    private static func checkReport(instanceId: String, report: AgentReport, facts: KnownFacts, deleted: SlipwayError, _ db: any SQLSession) throws {
        let productTierId: String
        if let known = facts.tier(ofInstance: instanceId) {
            productTierId = known
        } else {
            guard let tier = try db.cachedValue(String.self, sql: "SELECT product_tier_id FROM instances WHERE id = ?", arguments: [instanceId])
            else { throw deleted }
            facts.remember(tier: tier, ofInstance: instanceId)
            productTierId = tier
        }
        guard !facts.versionExists(report.tierVersion, inTier: productTierId) else { return }
        guard try db.cachedValue(Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM tier_versions WHERE product_tier_id = ? AND version = ?)",
            arguments: [productTierId, report.tierVersion]) == true
        else {
            throw SlipwayError.badRequest(
                "tierVersion '\(report.tierVersion.prefix(40))' is not a version of product tier \(productTierId); report the version of the desired state")
        }
        facts.remember(version: report.tierVersion, inTier: productTierId)
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
