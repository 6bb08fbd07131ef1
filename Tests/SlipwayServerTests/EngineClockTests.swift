import Foundation
import Logging
import SlipwayCore
import SlipwayEngine
import SlipwayStorage
import SlipwayTestSupport
import SlipwayWire
import Synchronization
import Testing

/// Hours of rollout time in no time: an engine on a clock the test moves, over the same database a
/// live server uses (the server's own engine runs on the wall clock, so its deadlines never pass here).
@Suite("The rollout engine on a clock the test moves")
struct SlipwayClockTests {
    final class MovableClock: Sendable {
        private let offset = Mutex<TimeInterval>(0)
        func advance(by seconds: TimeInterval) { offset.withLock { $0 += seconds } }
        var engineClock: SlipwayClock { SlipwayClock { [self] in Date().addingTimeInterval(offset.withLock { $0 }) } }
    }

    @Test func anHourOfBakeAndATenMinuteTimeout() async throws {
        let configuration = try await testConfiguration()
        try await withServer(configuration) { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 3)
            try await fleet.ship(admin, tag: "2")
            let policy = RolloutPolicyRequest(maxConcurrentUpgrades: 2, canaryCount: 1, failureThreshold: 1, instanceTimeoutSeconds: 600, bakeSeconds: 3600)
            #expect(try await admin.call(.post, fleet.rolloutPath, json: policy).status == .ok)

            let store = TestPostgres.serverTestsUsePostgres
                ? try await SQLStore.openPostgres(url: configuration.database) : try SQLStore(sqlitePath: configuration.database)
            let clock = MovableClock()
            let engine = RolloutEngine(store: store, notifier: DesiredStateNotifier(), clock: clock.engineClock, logger: Logger(label: "test"))
            try await engine.tick()
            var status = try await fleet.status(admin)
            #expect(status.status == "RUNNING")
            #expect(status.inProgress == 1, "the canary wave: one instance")

            // The canary succeeds; the rollout bakes for an hour before the next wave.
            let canary = try #require(try await fleet.rolloutInstances(admin).first { $0.status == "IN_PROGRESS" })
            let token = try #require(fleet.instances.first { $0.id == canary.instanceId }?.agentToken)
            let report = AgentReportRequest(tierVersion: "2.0", status: "SUCCEEDED", generation: 2)
            #expect(try await admin.as_(token).call(.post, "/agent/v1/report", json: report).status == .ok)
            let bakeEnds = try #require(try await engine.tick())
            #expect(bakeEnds.timeIntervalSince(clock.engineClock.now()) > 3500, "the next look is at the end of the bake")
            status = try await fleet.status(admin)
            #expect(status.completed == 1 && status.inProgress == 0 && status.pending == 2)

            clock.advance(by: 1800)
            try await engine.tick()
            #expect(try await fleet.status(admin).inProgress == 0, "half-way through the bake nothing starts")

            clock.advance(by: 1801)
            let deadline = try #require(try await engine.tick())
            status = try await fleet.status(admin)
            #expect(status.inProgress == 2, "after the bake the next wave starts")
            #expect(abs(deadline.timeIntervalSince(clock.engineClock.now()) - 600) < 5, "the next look is at the instances' deadline")

            // Nobody reports: ten minutes later both time out, and the threshold halts the rollout.
            clock.advance(by: 601)
            try await engine.tick()
            status = try await fleet.status(admin)
            #expect(status.status == "FAILED")
            #expect(status.failed == 2)
            let timedOut = try await fleet.rolloutInstances(admin).filter { $0.status == "FAILED" }
            #expect(timedOut.count == 2)
            #expect(timedOut.allSatisfy { ($0.reason ?? "").contains("600") }, "\(timedOut.map(\.reason))")
        }
    }

    @Test func aRolloutPausedPastItsTimeoutIsCancelledAndAClosedWindowOpensLater() async throws {
        let configuration = try await testConfiguration()
        try await withServer(configuration) { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 2)
            try await fleet.ship(admin, tag: "2")
            // A window that closed a minute ago: it opens again in about 23 hours.
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = .gmt
            func time(_ date: Date) -> String { String(format: "%02d:%02d", utc.component(.hour, from: date), utc.component(.minute, from: date)) }
            let window = MaintenanceWindowWire(start: time(Date().addingTimeInterval(-3600)), end: time(Date().addingTimeInterval(-60)))
            let policy = RolloutPolicyRequest(maxConcurrentUpgrades: 1, pausedTimeoutSeconds: 172_800, maintenanceWindow: window)
            #expect(try await admin.call(.post, fleet.rolloutPath, json: policy).status == .ok)

            let store = TestPostgres.serverTestsUsePostgres
                ? try await SQLStore.openPostgres(url: configuration.database) : try SQLStore(sqlitePath: configuration.database)
            let clock = MovableClock()
            let engine = RolloutEngine(store: store, notifier: DesiredStateNotifier(), clock: clock.engineClock, logger: Logger(label: "test"))
            let opensAt = try #require(try await engine.tick())
            #expect(opensAt.timeIntervalSince(clock.engineClock.now()) > 22 * 3600, "the next look is when the window opens")
            #expect(try await fleet.status(admin).inProgress == 0)
            clock.advance(by: opensAt.timeIntervalSince(clock.engineClock.now()) + 1)
            try await engine.tick()
            #expect(try await fleet.status(admin).inProgress == 1, "inside the window the first instance starts")

            // Paused (by the server, on the wall clock), and forgotten: two days later it is cancelled, saying why.
            let paused = try await admin.call(.post, fleet.rolloutPath + "/pause").decode(RolloutStatusResult.self)
            let pausedAt = try #require(paused.pausedAt.flatMap { try? Date($0, strategy: .iso8601) })
            clock.advance(by: pausedAt.addingTimeInterval(172_800 - 3600).timeIntervalSince(clock.engineClock.now()))
            try await engine.tick()
            #expect(try await fleet.status(admin).status == "PAUSED", "an hour before its timeout")
            clock.advance(by: 3601)
            try await engine.tick()
            let status = try await fleet.status(admin)
            #expect(status.status == "CANCELLED" && status.skipped == 1)
            #expect(
                status.message.hasPrefix("cancelled: paused longer than pausedTimeoutSeconds (172800 s); 1 instance(s) were not started"),
                "\(status.message)")
        }
    }
}
