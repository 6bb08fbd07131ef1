import Foundation
import SlipwayCore

// Rollouts: this file loads what `RolloutStateMachine` needs, feeds it the event, and persists what it
// says in the same transaction. The rules themselves live in the core; SQL here only selects rows by
// index and writes them back.

extension SQLStore {
    // MARK: Creating

    public func createRollout(
        imageConfigId: String, serviceId: String, organizationId: String, policy: RolloutPolicy, createdBy: String, dryRun: Bool,
        clock: SlipwayClock
    ) async throws -> (plan: RolloutPlan, rollout: Rollout?) {
        // A plan of a whole environment is read outside any write: reading 100,000 instances must not hold the writer.
        let plan = try await read { db in
            let config = try Self.imageConfig(id: imageConfigId, serviceId: serviceId, organizationId: organizationId, db)
            try Self.checkCanStart(config: config, db)
            return (config: config, plan: try Self.plan(config: config, policy: policy, db))
        }
        guard !dryRun else { return (plan.plan, nil) }
        let machine = RolloutStateMachine.create(
            id: Identifiers.new(.rollout), plan: plan.plan, config: plan.config, organizationId: organizationId, createdBy: createdBy,
            now: clock.now())
        let chunking = planChunking.withLock { $0 }
        if machine.effects.rows.count <= chunking.rowsPerTransaction {
            return (plan.plan, try await insertWhole(machine, organizationId: organizationId, now: clock.now()))
        }
        return (plan.plan, try await insertInChunks(machine, organizationId: organizationId, chunking: chunking, clock: clock))
    }

    /// Refuses a rollout of `config` that cannot start now (in the transaction that is about to insert one).
    static func checkCanStart(config: ImageConfig, _ db: any SQLSession) throws {
        let released =
            try db.cachedValue(Bool.self, sql: "SELECT EXISTS (SELECT 1 FROM tier_version_images WHERE image_config_id = ?)", arguments: [config.id])
            == true
        let latest = try db.cachedRow(sql: "SELECT * FROM rollouts WHERE image_config_id = ? ORDER BY seq DESC LIMIT 1", arguments: [config.id])
            .map(Self.rollout)
        try RolloutStateMachine.checkCanStart(imageConfigId: config.id, released: released, latest: latest)
    }

    /// A plan small enough for one transaction: checked again, inserted, and PENDING (or queued) on commit.
    private func insertWhole(_ planned: RolloutStateMachine, organizationId: String, now: Date) async throws -> Rollout {
        var planned = planned
        let rows = planned.takeEffects().rows
        let initial = planned.rollout
        return try await write { db in
            var machine = RolloutStateMachine(initial)
            try self.checkStillCanStart(initial, organizationId: organizationId, db)
            try Self.insertRollout(initial, db)
            let written = try Self.insertPlannedRows(rows, rolloutId: initial.id, firstSeq: 1, db)
            machine.plannedInstancesVanished(rows.filter { !written.contains($0.instanceId) }, now: now)
            try Self.persist(&machine, db)
            return try Self.queueIfHeld(&machine, now: now, db)
        }
    }

    /// A plan too large for one transaction: the rollout is inserted PLANNING (which the engine and every
    /// read pass over), its rows go in one bounded transaction at a time, and a last short transaction
    /// makes it PENDING. A server that stops half-way leaves a PLANNING rollout that nothing heeds, and that
    /// is discarded once abandoned (``discardAbandonedPlans(now:)``).
    private func insertInChunks(
        _ planned: RolloutStateMachine, organizationId: String, chunking: PlanChunking, clock: SlipwayClock
    ) async throws -> Rollout {
        var planned = planned
        let rows = planned.takeEffects().rows
        planned.holdWhilePlanning()
        let initial = planned.rollout
        plansBeingWritten.withLock { _ = $0.insert(initial.id) }
        defer { plansBeingWritten.withLock { _ = $0.remove(initial.id) } }
        // The audit record goes with the transaction that makes the rollout real, the last one.
        try await database.write { db in
            try self.checkStillCanStart(initial, organizationId: organizationId, db)
            try Self.insertRollout(initial, db)
        }
        do {
            var written = Set<String>()
            for start in stride(from: 0, to: rows.count, by: chunking.rowsPerTransaction) {
                let chunk = Array(rows[start..<min(start + chunking.rowsPerTransaction, rows.count)])
                let now = clock.now()
                written.formUnion(try await database.write { db in
                    try Self.markStillPlanning(initial.id, now: now, db)
                    return try Self.insertPlannedRows(chunk, rolloutId: initial.id, firstSeq: start + 1, db)
                })
                try await chunking.afterEachChunk?(initial.id, start + chunk.count)
            }
            let vanished = rows.filter { !written.contains($0.instanceId) }
            let now = clock.now()
            return try await write { db in
                try Self.markStillPlanning(initial.id, now: now, db)
                var machine = RolloutStateMachine(try Self.rollout(id: initial.id, db))
                machine.plannedInstancesVanished(vanished, now: now)
                try machine.planWritten(now: now)
                try Self.persist(&machine, db)
                return try Self.queueIfHeld(&machine, now: now, db)
            }
        } catch {
            // Best effort: when the database is away, the engine's sweep discards it later.
            try? await discardPlan(rolloutId: initial.id)
            throw error
        }
    }

    /// Says, in each transaction of a plan written in chunks, that the plan is still being written (its writer is
    /// alive); a plan discarded meanwhile as abandoned stops its writer here.
    private static func markStillPlanning(_ rolloutId: String, now: Date, _ db: any SQLSession) throws {
        guard try db.cachedValue(String.self, sql: "UPDATE rollouts SET updated_at = ? WHERE id = ? AND status = 'PLANNING' RETURNING id",
            arguments: [now, rolloutId]) != nil
        else {
            throw SlipwayError.unavailable(
                "the plan of rollout \(rolloutId) was given up while it was being written; start the rollout again", retryAfter: 1)
        }
    }

    /// Checks, in the transaction that inserts `rollout`, what the plan's read checked: the image config is
    /// still there and released, no rollout of it started meanwhile, and the organization has room.
    private func checkStillCanStart(_ rollout: Rollout, organizationId: String, _ db: any SQLSession) throws {
        let config = try Self.imageConfig(id: rollout.imageConfigId, serviceId: rollout.serviceId, organizationId: organizationId, db)
        try Self.checkCanStart(config: config, db)
        try checkQuota(.liveRollouts, organizationId: organizationId, db)
    }

    /// Tells the engine of a rollout now PENDING, queued behind an earlier live one when that holds its instances.
    private static func queueIfHeld(_ machine: inout RolloutStateMachine, now: Date, _ db: any SQLSession) throws -> Rollout {
        try db.notify(.rolloutWork, machine.rollout.id)
        if machine.rollout.status == .pending, try dependencyLive(rolloutId: machine.rollout.id, db) {
            machine.waitForDependency(now: now)
            try persist(&machine, db)
        }
        return machine.rollout
    }

    /// Discards the plans of rollouts left PLANNING by a server that stopped, a bounded transaction at a time
    /// (see ``RolloutStateMachine/isAbandonedPlan(_:now:writtenHere:sharedDatabase:)``).
    public func discardAbandonedPlans(now: Date) async throws -> Int {
        let planning = try await read { db in
            try db.cachedRows(sql: "SELECT * FROM rollouts WHERE status = 'PLANNING'", arguments: []).map(Self.rollout)
        }
        let writtenHere = plansBeingWritten.withLock { $0 }
        let abandoned = planning.filter {
            RolloutStateMachine.isAbandonedPlan($0, now: now, writtenHere: writtenHere.contains($0.id), sharedDatabase: replication != nil)
        }
        for rollout in abandoned { try await discardPlan(rolloutId: rollout.id) }
        return abandoned.count
    }

    /// Deletes a PLANNING rollout's rows, then the rollout (only while it is still PLANNING).
    private func discardPlan(rolloutId: String) async throws {
        let rowsPerTransaction = planChunking.withLock { $0.rowsPerTransaction }
        while true {
            let deleted = try await database.write { db in
                try db.cachedRows(sql: """
                        DELETE FROM rollout_instances WHERE rollout_id = ? AND seq IN (
                            SELECT ri.seq FROM rollout_instances ri JOIN rollouts r ON r.id = ri.rollout_id
                            WHERE ri.rollout_id = ? AND r.status = 'PLANNING' LIMIT \(rowsPerTransaction))
                        RETURNING seq
                        """,
                    arguments: [rolloutId, rolloutId]).count
            }
            if deleted == 0 { break }
        }
        try await database.write { db in
            try db.cachedExecute(sql: "DELETE FROM rollouts WHERE id = ? AND status = 'PLANNING'", arguments: [rolloutId])
        }
    }

    /// Inserts planned rows (positions `firstSeq`…), skipping those whose instance was deleted since the plan was
    /// read; returns the instance ids written. A few statement texts, many rows each.
    static func insertPlannedRows(_ rows: [RolloutInstance], rolloutId: String, firstSeq: Int, _ db: any SQLSession) throws -> Set<String> {
        var written = Set<String>()
        var start = 0
        while start < rows.count {
            let size = [256, 64, 8, 1].first { $0 <= rows.count - start }!
            var arguments: [any SQLBindable] = [rolloutId]
            for (offset, row) in rows[start..<start + size].enumerated() {
                arguments += [row.instanceId, firstSeq + start + offset, row.wave, row.sourceVersion, row.targetVersion]
            }
            let ids = try db.cachedValues(String.self, sql: """
                    INSERT INTO rollout_instances (rollout_id, instance_id, seq, wave, source_version, target_version, status)
                    SELECT ?, v.column1, v.column2, v.column3, v.column4, v.column5, 'PENDING'
                    FROM (VALUES \(Array(repeating: "(?, ?, ?, ?, ?)", count: size).joined(separator: ", "))) AS v
                    WHERE EXISTS (SELECT 1 FROM instances i WHERE i.id = v.column1)
                    RETURNING instance_id
                    """,
                arguments: arguments)
            written.formUnion(ids)
            start += size
        }
        return written
    }

    /// Loads what ``RolloutPlanner`` reads: the environment's instances, each tier's preferred version, and
    /// the image config as those versions pin it.
    static func plan(config: ImageConfig, policy: RolloutPolicy, _ db: any SQLSession) throws -> RolloutPlan {
        let instances = try db.cachedRows(sql: "SELECT * FROM instances WHERE service_environment_id = ? ORDER BY seq", arguments: [config.serviceEnvironmentId])
            .map(Self.instance)
        var preferred: [String: String] = [:]
        for tier in Set(instances.map(\.productTierId)) {
            preferred[tier] = try db.cachedValue(String.self, sql: "SELECT version FROM tier_versions WHERE product_tier_id = ? AND status = 'Preferred'",
                arguments: [tier])
        }
        var snapshots: [RolloutPlanner.TierVersionKey: ImageConfigSnapshot] = [:]
        for key in RolloutPlanner.neededVersions(instances: instances, preferredVersions: preferred) {
            let rows = try db.cachedRows(sql: "SELECT * FROM tier_versions WHERE product_tier_id = ? AND version = ?", arguments: [key.productTierId, key.version])
            snapshots[key] = try tierVersions(rows, serviceId: config.serviceId, db).first?.images.first { $0.imageConfigId == config.id }
        }
        return try RolloutPlanner.plan(config: config, policy: policy, instances: instances, preferredVersions: preferred, snapshots: snapshots)
    }

    /// Whether an earlier live rollout holds any instance this rollout still has to start. An earlier rollout of
    /// the environment still being planned counts as holding them all: its rows are not all written yet.
    static func dependencyLive(rolloutId: String, _ db: any SQLSession) throws -> Bool {
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
                OR EXISTS (
                    SELECT 1 FROM rollouts planning JOIN rollouts me ON me.id = ?
                    WHERE planning.service_environment_id = me.service_environment_id AND planning.status = 'PLANNING' AND planning.seq < me.seq)
                """,
            arguments: [rolloutId, rolloutId, rolloutId]) ?? false
    }

    // MARK: Reading

    static func rollout(_ row: SQLRow) -> Rollout {
        var counts = RolloutCounts()
        counts.total = row["total"]
        counts.pending = row["pending"]
        counts.inProgress = row["in_progress"]
        counts.completed = row["completed"]
        counts.failed = row["failed"]
        counts.skipped = row["skipped"]
        counts.rollingBack = row["rolling_back"]
        counts.rolledBack = row["rolled_back"]
        counts.rollbackFailed = row["rollback_failed"]
        let bakeUntil: Double? = row["bake_until"]
        return Rollout(
            id: row["id"], organizationId: row["organization_id"], serviceId: row["service_id"],
            serviceEnvironmentId: row["service_environment_id"], imageConfigId: row["image_config_id"],
            status: RolloutStatus(rawValue: row["status"]) ?? .failed, policy: decodeJSON(row["policy"]) ?? RolloutPolicy(), counts: counts,
            currentWave: row["current_wave"], totalWaves: row["total_waves"], bakeUntil: bakeUntil.map(Date.init(timeIntervalSince1970:)),
            rollback: RollbackState(rawValue: row["rollback"]) ?? .none, sourceVersions: decodeJSON(row["source_versions"]) ?? [],
            targetVersions: decodeJSON(row["target_versions"]) ?? [], message: row["message"], createdBy: row["created_by"],
            createdAt: row["created_at"], startedAt: row["started_at"], updatedAt: row["updated_at"], finishedAt: row["finished_at"],
            completedSeconds: row["completed_seconds"], note: decodeJSON(row["note"]), gateAfterWave: row["gate_after_wave"],
            promotedAt: (row["promoted_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            pausedAt: (row["paused_at"] as Double?).map(Date.init(timeIntervalSince1970:)), analysisFailures: row["analysis_failures"],
            nextAnalysisAt: (row["next_analysis_at"] as Double?).map(Date.init(timeIntervalSince1970:)), lastAnalysis: row["last_analysis"],
            analyzedThroughWave: row["analyzed_through_wave"])
    }

    static func rollout(id: String, _ db: any SQLSession) throws -> Rollout {
        guard let row = try db.cachedRow(sql: "SELECT * FROM rollouts WHERE id = ?", arguments: [id]) else {
            throw SlipwayError.notFound(.rollout, id)
        }
        return rollout(row)
    }

    static func latestRollout(imageConfigId: String, serviceId: String, organizationId: String, _ db: any SQLSession) throws -> Rollout {
        _ = try imageConfig(id: imageConfigId, serviceId: serviceId, organizationId: organizationId, db)
        guard let row = try db.cachedRow(sql: "SELECT * FROM rollouts WHERE image_config_id = ? AND status != 'PLANNING' ORDER BY seq DESC LIMIT 1",
            arguments: [imageConfigId])
        else { throw SlipwayError.notFound("image config \(imageConfigId) has never been rolled out; start with POST …/image-config/\(imageConfigId)/rollout") }
        return rollout(row)
    }

    public func latestRollout(imageConfigId: String, serviceId: String, organizationId: String) async throws -> Rollout {
        try await read { db in try Self.latestRollout(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId, db) }
    }

    public func rollouts(imageConfigId: String, serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<Rollout> {
        try await read { db in
            _ = try Self.imageConfig(id: imageConfigId, serviceId: serviceId, organizationId: organizationId, db)
            return try Self.page(db, sql: "SELECT * FROM rollouts WHERE image_config_id = ? AND status != 'PLANNING'", arguments: [imageConfigId], page: page) { Self.rollout($0) }
        }
    }

    static func rolloutInstance(_ row: SQLRow) -> RolloutInstance {
        let started: Double? = row["started_at"]
        let ended: Double? = row["ended_at"]
        let deadline: Double? = row["deadline"]
        return RolloutInstance(
            rolloutId: row["rollout_id"], instanceId: row["instance_id"], instanceName: row["instance_name"] ?? "", wave: row["wave"],
            sourceVersion: row["source_version"], targetVersion: row["target_version"],
            status: RolloutInstanceStatus(rawValue: row["status"]) ?? .failed, startedAt: started.map(Date.init(timeIntervalSince1970:)),
            endedAt: ended.map(Date.init(timeIntervalSince1970:)), deadline: deadline.map(Date.init(timeIntervalSince1970:)),
            outcome: decodeJSON(row["outcome"]))
    }

    public func rolloutInstances(rolloutId: String, status: RolloutInstanceStatus?, page: PageRequest) async throws -> Page<RolloutInstance> {
        try await read { db in
            var sql = "SELECT ri.*, i.name AS instance_name FROM rollout_instances ri JOIN instances i ON i.id = ri.instance_id WHERE ri.rollout_id = ?"
            var arguments: [any SQLBindable] = [rolloutId]
            if let status {
                sql += " AND ri.status = ?"
                arguments.append(status.rawValue)
            }
            return try Self.page(db, sql: sql, arguments: arguments, page: page, order: "ri.seq") { Self.rolloutInstance($0) }
        }
    }

    /// A rollout's rows in one status.
    static func rows(rolloutId: String, status: RolloutInstanceStatus, _ db: any SQLSession) throws -> [RolloutInstance] {
        try db.cachedRows(sql: "SELECT * FROM rollout_instances WHERE rollout_id = ? AND status = ? ORDER BY seq", arguments: [rolloutId, status.rawValue])
            .map(rolloutInstance)
    }

    /// The rollout's rows with their instances, in plan order: all of them, or the first `limit` pending ones of `wave`.
    static func members(rolloutId: String, pendingInWave wave: Int?, limit: Int? = nil, _ db: any SQLSession) throws -> [RolloutStateMachine.Member] {
        var sql = """
            SELECT ri.*, i.name AS instance_name, i.current_version AS instance_current_version, i.desired_version AS instance_desired_version
            FROM rollout_instances ri JOIN instances i ON i.id = ri.instance_id WHERE ri.rollout_id = ?
            """
        var arguments: [any SQLBindable] = [rolloutId]
        if let wave {
            sql += " AND ri.wave = ? AND ri.status = 'PENDING'"
            arguments += [wave]
        }
        sql += " ORDER BY ri.seq"
        if let limit {
            sql += " LIMIT ?"
            arguments += [limit]
        }
        return try db.cachedRows(sql: sql, arguments: arguments).map {
            RolloutStateMachine.Member(
                row: rolloutInstance($0), currentVersion: $0["instance_current_version"], desiredVersion: $0["instance_desired_version"])
        }
    }

    // MARK: Writing what the machine says

    /// Writes a new rollout's own row; its instance rows go in with ``insertPlannedRows(_:rolloutId:firstSeq:_:)``.
    static func insertRollout(_ rollout: Rollout, _ db: any SQLSession) throws {
        try db.cachedExecute(sql: """
                INSERT INTO rollouts (id, organization_id, service_id, service_environment_id, image_config_id, status, policy, total, pending,
                    current_wave, total_waves, rollback, source_versions, target_versions, message, note, created_by, created_at, updated_at, finished_at,
                    gate_after_wave)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                rollout.id, rollout.organizationId, rollout.serviceId, rollout.serviceEnvironmentId, rollout.imageConfigId, rollout.status.rawValue,
                encodeJSON(rollout.policy), rollout.counts.total, rollout.counts.pending, rollout.currentWave, rollout.totalWaves,
                rollout.rollback.rawValue, encodeJSON(rollout.sourceVersions), encodeJSON(rollout.targetVersions), rollout.message,
                rollout.note.map(encodeJSON), rollout.createdBy, rollout.createdAt, rollout.updatedAt, rollout.finishedAt, rollout.gateAfterWave,
            ])
    }

    /// Writes everything the machine changed since the last write.
    static func persist(_ machine: inout RolloutStateMachine, _ db: any SQLSession) throws {
        try persistInstances(&machine, db)
        let effects = machine.takeEffects()
        try enqueueRolloutEvents(effects.events, rollout: machine.rollout, db)
        guard effects.rolloutChanged else { return }
        let rollout = machine.rollout
        let counts = rollout.counts
        try db.cachedExecute(sql: """
                UPDATE rollouts SET status = ?, total = ?, pending = ?, in_progress = ?, completed = ?, failed = ?, skipped = ?, rolling_back = ?,
                    rolled_back = ?, rollback_failed = ?, current_wave = ?, total_waves = ?, bake_until = ?, rollback = ?, message = ?, note = ?,
                    started_at = ?, updated_at = ?, finished_at = ?, completed_seconds = ?, gate_after_wave = ?, promoted_at = ?, paused_at = ?,
                    analysis_failures = ?, next_analysis_at = ?, last_analysis = ?, analyzed_through_wave = ?, target_versions = ?
                WHERE id = ?
                """,
            arguments: [
                rollout.status.rawValue, counts.total, counts.pending, counts.inProgress, counts.completed, counts.failed, counts.skipped,
                counts.rollingBack, counts.rolledBack, counts.rollbackFailed, rollout.currentWave, rollout.totalWaves,
                rollout.bakeUntil?.timeIntervalSince1970, rollout.rollback.rawValue, rollout.message, rollout.note.map(encodeJSON),
                rollout.startedAt, rollout.updatedAt, rollout.finishedAt, rollout.completedSeconds, rollout.gateAfterWave,
                rollout.promotedAt?.timeIntervalSince1970, rollout.pausedAt?.timeIntervalSince1970, rollout.analysisFailures,
                rollout.nextAnalysisAt?.timeIntervalSince1970, rollout.lastAnalysis, rollout.analyzedThroughWave, encodeJSON(rollout.targetVersions),
                rollout.id,
            ])
    }

    /// Writes the instance rows and desired versions the machine changed; the rollout's own row waits for ``persist(_:_:)``.
    static func persistInstances(_ machine: inout RolloutStateMachine, _ db: any SQLSession) throws {
        let effects = machine.takeInstanceEffects()
        try writeInstanceEffects(effects, rolloutId: machine.rollout.id, db)
        try enqueueRolloutEvents(effects.events, rollout: machine.rollout, db)
    }

    /// Writes a rollout's changed rows, removed rows and desired versions, in as few statements as the changes
    /// allow: a wave starts hundreds of rows with the same values, and a batch of reports completes them alike.
    /// The outcome is that of writing each change in order.
    static func writeInstanceEffects(_ effects: RolloutStateMachine.Effects, rolloutId: String, _ db: any SQLSession) throws {
        // Each statement sets every column, so only a row's last change counts; alike rows go together.
        struct RowValues: Hashable {
            var wave: Int, status: String, startedAt: Double?, endedAt: Double?, deadline: Double?, outcome: String?
        }
        var last: [String: RolloutInstance] = [:]
        var rowOrder: [String] = []
        for row in effects.rows {
            if last.updateValue(row, forKey: row.instanceId) == nil { rowOrder.append(row.instanceId) }
        }
        var groups: [RowValues: [String]] = [:]
        var groupOrder: [RowValues] = []
        for instanceId in rowOrder {
            let row = last[instanceId]!
            let values = RowValues(
                wave: row.wave, status: row.status.rawValue, startedAt: row.startedAt?.timeIntervalSince1970,
                endedAt: row.endedAt?.timeIntervalSince1970, deadline: row.deadline?.timeIntervalSince1970, outcome: row.outcome.map(encodeJSON))
            if groups[values] == nil { groupOrder.append(values) }
            groups[values, default: []].append(instanceId)
        }
        for values in groupOrder {
            for chunk in idChunks(groups[values]!) {
                try db.cachedExecute(sql: """
                        UPDATE rollout_instances SET wave = ?, status = ?, started_at = ?, ended_at = ?, deadline = ?, reason = NULL, outcome = ?
                        WHERE rollout_id = ? AND instance_id IN (\(placeholders(chunk.count)))
                        """,
                    arguments: [values.wave, values.status, values.startedAt, values.endedAt, values.deadline, values.outcome, rolloutId]
                        + chunk.map { $0 as any SQLBindable })
            }
        }
        for instanceId in effects.removedInstanceIds {
            try db.cachedExecute(sql: "DELETE FROM rollout_instances WHERE rollout_id = ? AND instance_id = ?", arguments: [rolloutId, instanceId])
        }
        // Each change moves the generation on, so they are applied in order: a run of changes to one version
        // (with no instance twice) is one statement.
        var runVersion: String?
        var runIds: [String] = []
        var inRun: Set<String> = []
        func flush() throws {
            guard let version = runVersion else { return }
            for chunk in idChunks(runIds) {
                let changed = try db.cachedRows(
                    sql: """
                        UPDATE instances SET desired_version = ?, desired_generation = desired_generation + 1
                        WHERE id IN (\(placeholders(chunk.count))) RETURNING seq
                        """,
                    arguments: [version as any SQLBindable] + chunk.map { $0 as any SQLBindable })
                for row in changed { db.staleAgentSessions.changed(row[0]) }
            }
            runVersion = nil
            runIds.removeAll()
            inRun.removeAll()
        }
        for change in effects.desiredVersions {
            if runVersion != nil && (runVersion != change.version || inRun.contains(change.instanceId)) { try flush() }
            runVersion = change.version
            runIds.append(change.instanceId)
            inRun.insert(change.instanceId)
        }
        try flush()
    }

    /// Ids in chunks for `IN (…)` lists of a few fixed lengths (1, 8, 64, 512), the last id repeated to fill
    /// a chunk: a handful of statement texts to prepare and keep, whatever the number of ids.
    static func idChunks(_ ids: [String]) -> [[String]] {
        stride(from: 0, to: ids.count, by: 512).map { start in
            var chunk = Array(ids[start..<min(start + 512, ids.count)])
            let size = [1, 8, 64, 512].first { $0 >= chunk.count }!
            chunk += Array(repeating: chunk[chunk.count - 1], count: size - chunk.count)
            return chunk
        }
    }

    /// `?, ?, …` for `count` values.
    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }

    // MARK: Operators

    /// Feeds an operator's event to the machine of the image config's latest rollout, and persists the outcome.
    private func control(
        imageConfigId: String, serviceId: String, organizationId: String,
        _ event: @escaping @Sendable (inout RolloutStateMachine, any SQLSession) throws -> Void
    ) async throws -> Rollout {
        try await write { db in
            var machine = RolloutStateMachine(try Self.latestRollout(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId, db))
            try event(&machine, db)
            try Self.persist(&machine, db)
            try db.notify(.rolloutWork, machine.rollout.id)
            return machine.rollout
        }
    }

    public func pauseRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { machine, _ in try machine.pause(now: now) }
    }

    public func resumeRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { machine, _ in try machine.resume(now: now) }
    }

    public func cancelRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { machine, db in
            let pending = machine.rollout.status.isLive ? try Self.rows(rolloutId: machine.rollout.id, status: .pending, db) : []
            try machine.cancel(pending: pending, now: now)
        }
    }

    public func promoteRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { machine, _ in try machine.promote(now: now) }
    }

    public func retargetRollout(imageConfigId: String, serviceId: String, organizationId: String, version: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { machine, db in
            let rolloutId = machine.rollout.id
            let tierIds = try db.cachedValues(
                String.self,
                sql: "SELECT DISTINCT i.product_tier_id FROM rollout_instances ri JOIN instances i ON i.id = ri.instance_id WHERE ri.rollout_id = ?",
                arguments: [rolloutId])
            var tiers: [String: RolloutStateMachine.TierAtVersion?] = [:]
            for tierId in tierIds {
                let row = try db.cachedRow(
                    sql: """
                        SELECT tv.status, EXISTS (SELECT 1 FROM tier_version_images tvi WHERE tvi.tier_version_seq = tv.seq AND tvi.image_config_id = ?) AS pins
                        FROM tier_versions tv WHERE tv.product_tier_id = ? AND tv.version = ?
                        """,
                    arguments: [imageConfigId, tierId, version])
                // updateValue: assigning nil through the subscript would drop the tier instead of recording that it has no such version.
                tiers.updateValue(
                    row.map { RolloutStateMachine.TierAtVersion(status: TierVersionStatus(rawValue: $0["status"]) ?? .active, pinsImageConfig: $0["pins"]) },
                    forKey: tierId)
            }
            try machine.retarget(to: version, tiers: tiers, now: now)
            try db.cachedExecute(sql: "UPDATE rollout_instances SET target_version = ? WHERE rollout_id = ?", arguments: [version, rolloutId])
        }
    }

    public func skipRolloutInstances(
        imageConfigId: String, serviceId: String, organizationId: String, instanceIds: [String], now: Date
    ) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { machine, db in
            var rows: [RolloutInstance] = []
            for chunk in Self.idChunks(Array(Set(instanceIds))) {
                rows += try db.cachedRows(
                    sql: "SELECT * FROM rollout_instances WHERE rollout_id = ? AND instance_id IN (\(Self.placeholders(chunk.count)))",
                    arguments: [machine.rollout.id as any SQLBindable] + chunk.map { $0 as any SQLBindable }
                ).map(Self.rolloutInstance)
            }
            try machine.skip(instanceIds: instanceIds, rows: rows, now: now)
        }
    }

    public func retryRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout {
        try await control(imageConfigId: imageConfigId, serviceId: serviceId, organizationId: organizationId) { machine, db in
            try machine.retry(members: try Self.members(rolloutId: machine.rollout.id, pendingInWave: nil, db), now: now)
        }
    }

    // MARK: The engine

    public func activeRolloutIDs() async throws -> [String] {
        try await read { db in
            try db.cachedValues(String.self, sql: "SELECT id FROM rollouts WHERE status IN \(Self.liveStatuses) OR rollback = 'running' ORDER BY seq")
        }
    }

    public func advanceRollout(id: String, now: Date) async throws -> (changedInstances: [String], wakeAt: Date?) {
        try await write { db in
            var machine = RolloutStateMachine(try Self.rollout(id: id, db))
            var changed: [String] = []
            for _ in 0..<machine.stepLimit {
                let rollout = machine.rollout
                let dependencyLive = rollout.status == .pendingDependency ? try Self.dependencyLive(rolloutId: id, db) : false
                let action = machine.next(now: now, dependencyLive: dependencyLive)
                switch action {
                case .wait(let until):
                    return (changed, until)
                case .waitForDependency:
                    return (changed, nil)
                case .startWave(let wave):
                    machine.startWave(wave, members: try Self.members(rolloutId: id, pendingInWave: wave, db), now: now)
                case .fillWindow(let slots):
                    let members = try rollout.windowWave.map { try Self.members(rolloutId: id, pendingInWave: $0, limit: slots, db) } ?? []
                    guard !members.isEmpty else {
                        throw SlipwayError.failedRequest("rollout \(id) counts \(rollout.counts.pending) pending instance(s) but has none to start; its counts disagree with its instances")
                    }
                    machine.fillWindow(slots, members: members, now: now)
                case .cancelPausedTooLong:
                    machine.cancelPausedTooLong(pending: try Self.rows(rolloutId: id, status: .pending, db), now: now)
                case .halt:
                    let completed = rollout.policy.autoRollback ? try Self.rows(rolloutId: id, status: .completed, db) : []
                    machine.halt(pending: try Self.rows(rolloutId: id, status: .pending, db), completed: completed, now: now)
                case .awaitAnalysis:
                    machine.perform(action, now: now)
                    try Self.persist(&machine, db)
                    return (changed, nil)
                case .awaitWindow(let opensAt):
                    machine.perform(action, now: now)
                    try Self.persist(&machine, db)
                    return (changed, opensAt)
                case .start, .bake, .complete, .finishRollback, .reachSchedule, .awaitPromotion:
                    machine.perform(action, now: now)
                }
                changed += machine.effects.desiredVersions.map(\.instanceId)
                try Self.persist(&machine, db)
                if case .bake(let until) = action { return (changed, until) }
            }
            throw SlipwayError.failedRequest("rollout \(id) did not come to a wait within \(machine.stepLimit) steps; its counts disagree with its instances")
        }
    }

    public func expireDeadlines(now: Date) async throws -> [String] {
        try await write { db in
            let rows = try db.cachedRows(sql: "SELECT * FROM rollout_instances WHERE deadline IS NOT NULL AND deadline <= ?", arguments: [now.timeIntervalSince1970])
                .map(Self.rolloutInstance)
            // A wave times out together: one machine per rollout, its row written once.
            var machines: [String: RolloutStateMachine] = [:]
            for row in rows {
                var machine = try machines[row.rolloutId] ?? RolloutStateMachine(Self.rollout(id: row.rolloutId, db))
                machine.deadlinePassed(row, now: now)
                machines[row.rolloutId] = machine
            }
            for var machine in machines.values { try Self.persist(&machine, db) }
            return Array(machines.keys)
        }
    }

    public func rolloutsDueForAnalysis(now: Date) async throws -> [Rollout] {
        try await read { db in
            try db.cachedRows(
                sql: "SELECT * FROM rollouts WHERE status = 'RUNNING' AND next_analysis_at IS NOT NULL AND next_analysis_at <= ? ORDER BY seq",
                arguments: [now.timeIntervalSince1970]
            ).map(Self.rollout)
        }
    }

    public func recordAnalysis(rolloutId: String, passed: Bool, text: String, now: Date) async throws -> Bool {
        try await write { db in
            var machine = RolloutStateMachine(try Self.rollout(id: rolloutId, db))
            let work = machine.analysisMeasured(passed: passed, text: text, now: now)
            try Self.persist(&machine, db)
            if work { try db.notify(.rolloutWork, rolloutId) }
            return work
        }
    }

    public func nextDeadline() async throws -> Date? {
        try await read { db in
            try db.cachedValue(Double.self, sql: "SELECT MIN(deadline) FROM rollout_instances WHERE deadline IS NOT NULL").map(Date.init(timeIntervalSince1970:))
        }
    }
}
