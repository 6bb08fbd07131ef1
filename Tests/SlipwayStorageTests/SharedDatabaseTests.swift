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
}
