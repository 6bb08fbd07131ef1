import Foundation
import SlipwayCore
@testable import SlipwayStorage
import SlipwayTestSupport
import Testing

/// Two stores on one PostgreSQL database, as two replicas: what one acknowledges, the other's next read of
/// the catalog revision has heard of, without any wait in between.
@Suite("Stores sharing one PostgreSQL database")
struct SharedDatabaseTests {
    @Test func aWriteOnOneIsHeardByTheOthersNextRevision() async throws {
        let opened = try await StoreUnderTest.postgres.makeEmpty()
        defer { opened.remove() }
        let writer = try #require(opened.store as? SQLStore)
        let reader = try #require(try await opened.reopen() as? SQLStore)
        defer { Task { await reader.close(); await writer.close() } }
        let fixture = try await StoreFixture.make(writer)
        // Not listening, the revision moves on every read: that would pass for the wrong reason.
        let deadline = ContinuousClock.now + .seconds(10)
        while !reader.isListening && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try #require(reader.isListening, "the reader never started listening")
        var stale: [Int] = []
        for round in 1...200 {
            let before = await reader.catalogRevision()
            try await writer.createService(
                Service(id: Identifiers.new(.service), organizationId: fixture.organizationId, name: "s\(round)", description: "", createdAt: StoreFixture.t0))
            if await reader.catalogRevision() == before { stale.append(round) }
            try #require(reader.isListening, "the reader stopped listening in round \(round)")
        }
        #expect(stale.isEmpty, "the reader's revision had not moved after writes \(stale.prefix(10)) of 200")
    }

    /// Sixteen writers updating one image config at once, as pipelines do: every update is applied (each
    /// bumps the revision once), none is refused for conflicting with the others.
    @Test func writersPilingOntoOneRowAllGetThrough() async throws {
        let opened = try await StoreUnderTest.postgres.makeEmpty()
        defer { opened.remove() }
        let store = try #require(opened.store as? SQLStore)
        defer { Task { await store.close() } }
        let fixture = try await StoreFixture.make(store)
        let refusals = try await withThrowingTaskGroup(of: [String].self) { group in
            for writer in 0..<16 {
                group.addTask {
                    var refused: [String] = []
                    for round in 0..<15 {
                        do {
                            _ = try await store.updateImageConfig(
                                id: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId,
                                change: ImageSpecChange(imageTag: "w\(writer)-\(round)"), now: StoreFixture.t0)
                        } catch {
                            refused.append("\(error)")
                        }
                    }
                    return refused
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(refusals.isEmpty, "\(refusals.count) of 240 updates refused: \(refusals.prefix(3))")
        let config = try await store.imageConfig(id: fixture.imageConfigId, serviceId: fixture.serviceId, organizationId: fixture.organizationId)
        #expect(config.revision == 1 + 240 - refusals.count)
    }

    /// Sixteen writers adding image configs to one organization through two replicas. Far from the quota they run
    /// side by side: none conflicts with another (counting inside each transaction made every two conflict).
    /// Near it, the quota still holds exactly: of 48 adds with room for 10, 10 go in and the rest are refused
    /// with the exact count.
    @Test func addsOfOneOrganizationRunSideBySideAndItsQuotaHoldsAcrossReplicas() async throws {
        let opened = try await StoreUnderTest.postgres.makeEmpty()
        defer { opened.remove() }
        let first = try #require(opened.store as? SQLStore)
        let second = try #require(try await opened.reopen() as? SQLStore)
        defer { Task { await second.close(); await first.close() } }
        let fixture = try await StoreFixture.make(first)
        let replicas = [first, second]
        @Sendable func add(_ store: SQLStore, _ name: String) async throws {
            let config = ImageConfig(
                id: Identifiers.new(.imageConfig), serviceId: fixture.serviceId, serviceEnvironmentId: fixture.environmentId,
                spec: ImageSpec(description: "", imageName: "acme/\(name)", imageTag: "1", imageRegistryId: "", publicKeyPEM: nil, commands: nil, args: nil),
                revision: 1, createdAt: StoreFixture.t0, updatedAt: StoreFixture.t0)
            try await store.createImageConfig(config, organizationId: fixture.organizationId)
        }
        @Sendable func addFromSixteenWriters(_ perWriter: Int) async throws -> (added: Int, refusals: [String]) {
            try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        var added = 0
                        var refusals: [String] = []
                        for round in 0..<perWriter {
                            do {
                                try await add(replicas[writer % 2], "w\(writer)-\(round)")
                                added += 1
                            } catch {
                                refusals.append("\(error)")
                            }
                        }
                        return (added, refusals)
                    }
                }
                return try await group.reduce(into: (0, [])) { $0.0 += $1.0; $0.1 += $1.1 }
            }
        }
        func conflicts() -> [Int] { replicas.map { ($0.database as? PostgresBackend)?.conflicts.load(ordering: .relaxed) ?? -1 } }

        // Each replica counts once; after that, adds far from the quota are admitted by the bound.
        for store in replicas { try await add(store, "first") }
        let conflictsBefore = conflicts()
        let far = try await addFromSixteenWriters(10)
        #expect(far.added == 160 && far.refusals.isEmpty, "\(far.refusals.prefix(3))")
        #expect(conflicts() == conflictsBefore, "adds far from the quota conflicted")

        let held = 1 + 2 + 160
        var quotas = OrganizationQuotas()
        quotas[.imageConfigs] = held + 10
        for store in replicas { store.setQuotas(quotas) }
        let near = try await addFromSixteenWriters(3)
        let refusal = SlipwayError.invalidState(
            "the organization has \(held + 10) image configs, its quota is \(held + 10); "
                + "delete some first, or ask the operator to raise it (slipwayd --quota image-configs=N)")
        #expect(near.added == 10)
        #expect(near.refusals == Array(repeating: "\(refusal)", count: 38))
    }
}
