import Foundation
import GRDB
import SlipwayCore
import SlipwayStorage
import SlipwayTestSupport
import Testing

/// A database written before rollout notes and outcomes were structured opens, keeps its history, and its
/// rollouts go on under the new rules.
@Suite("Migrations")
struct MigrationTests {
    /// A database a newer Slipway migrated further is refused, naming what it does not know.
    @Test(arguments: StoreUnderTest.allCases)
    func aNewerSchemaIsRefused(_ kind: StoreUnderTest) async throws {
        let opened = try await kind.makeEmpty()
        defer { opened.remove() }
        _ = try await StoreFixture.make(opened.store)
        switch kind {
        case .sqlite:
            let path = try #require(opened.path)
            let queue = try DatabaseQueue(path: path)
            try await queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
            try queue.close()
        case .postgres:
            let url = try #require(opened.url)
            await (opened.store as? SQLStore)?.close()
            try await TestPostgres.psql(url, "INSERT INTO slipway_migrations (id) VALUES ('v99-from-the-future')")
        }
        do {
            _ = try await opened.reopen()
            Issue.record("a database with an unknown migration opened")
        } catch let error as StoreOpeningError {
            let kindName = kind == .sqlite ? "SQLite" : "PostgreSQL"
            #expect(error.description.contains("the \(kindName) database"), "\(error)")
            #expect(error.description.contains("has schema migrations this slipwayd does not know (v99-from-the-future): a newer Slipway wrote it"), "\(error)")
        }
    }

    @Test func rolloutsRecordedBeforeStructuredOutcomesKeepTheirHistory() async throws {
        let opened = try await StoreUnderTest.sqlite.makeEmpty()
        defer { opened.remove() }
        var store = opened.store
        let fixture = try await StoreFixture.make(store)
        let ids = (config: fixture.imageConfigId, service: fixture.serviceId, org: fixture.organizationId)
        let instances = try await fixture.register(store, count: 2)
        try await fixture.ship(store, tag: "2")
        var policy = RolloutPolicy()
        policy.autoRollback = true
        let rollout = try #require(try await store.createRollout(
            imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, policy: policy, createdBy: "a", dryRun: false, clock: SlipwayClock { StoreFixture.t0 }
        ).rollout)
        let t = StoreFixture.t0
        _ = try await store.advanceRollout(id: rollout.id, now: t)
        _ = try await store.recordReports([
            (instances[0].id, AgentReport(tierVersion: "2.0", status: .succeeded, message: nil, health: nil, generation: 2)),
            (instances[1].id, AgentReport(tierVersion: "2.0", status: .failed, message: "pull failed", health: nil, generation: 2)),
        ], now: t)
        _ = try await store.advanceRollout(id: rollout.id, now: t)
        _ = try await store.recordReports(
            [(instances[0].id, AgentReport(tierVersion: "1.0", status: .failed, message: "disk full", health: nil, generation: 3))], now: t)
        _ = try await store.advanceRollout(id: rollout.id, now: t)
        let before = try await store.latestRollout(imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org)
        #expect(before.counts.rollbackFailed == 1)

        // Back to the schema of the release before: no notes, no outcomes, no rollback_failed column.
        let path = try #require(opened.path)
        let queue = try DatabaseQueue(path: path)
        let (upgraded, failed) = (instances[0].id, instances[1].id)
        try await queue.write { db in
            // The reasons as that release wrote them, in words only.
            try db.execute(sql: "UPDATE rollout_instances SET reason = 'rollback failed: disk full' WHERE instance_id = ?", arguments: [upgraded])
            try db.execute(sql: "UPDATE rollout_instances SET reason = 'the agent reported failure: pull failed' WHERE instance_id = ?", arguments: [failed])
            try db.execute(sql: """
                ALTER TABLE rollouts DROP COLUMN note;
                ALTER TABLE rollouts DROP COLUMN rollback_failed;
                ALTER TABLE rollout_instances DROP COLUMN outcome;
                DELETE FROM grdb_migrations WHERE identifier = 'v3-rollout-notes';
                """)
        }
        try queue.close()

        store = try await opened.reopen()
        let after = try await store.latestRollout(imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org)
        #expect(after.counts == before.counts, "failed rollbacks are counted from the recorded text once")
        #expect(after.message == before.message)
        let rows = try await StoreFixture.rows(store, rolloutId: rollout.id)
        #expect(rows.map(\.reason) == ["rollback failed: disk full", "the agent reported failure: pull failed"])
        #expect(rows[0].outcome == .rollbackReportedFailure(message: "disk full"))
        #expect(after.counts == RolloutCounts(counting: rows))

        // And it goes on under the new rules: a retry re-runs both.
        let retried = try await store.retryRollout(imageConfigId: ids.config, serviceId: ids.service, organizationId: ids.org, now: t)
        #expect(retried.message == "retrying 2 instance(s) that did not reach their target")
    }
}
