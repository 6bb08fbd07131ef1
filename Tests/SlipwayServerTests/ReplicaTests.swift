import AsyncHTTPClient
import Foundation
import SlipwayTestSupport
import SlipwayWire
import Synchronization
import Testing

/// Several `slipwayd` processes on one PostgreSQL database, as behind a load balancer: any replica answers
/// any request, a rollout is driven by exactly one of them, and losing that one (or PostgreSQL for a while)
/// loses nothing that was acknowledged.
@Suite("Replicas on one PostgreSQL database", .timeLimit(.minutes(3)))
struct ReplicaTests {
    static let v2 = "docker.io/acme/app:2"

    /// Starts replicas one after another on `database`.
    static func replicas(_ count: Int, on database: String) async throws -> [ServerProcess] {
        var started: [ServerProcess] = []
        for _ in 0..<count { started.append(try await ServerProcess(database: database)) }
        return started
    }

    /// A user disabled through one replica is refused on the very next request to another, which had
    /// already verified and kept the user's token.
    @Test func aDisabledUserIsRefusedByEveryReplicaAtOnce() async throws {
        let database = try await TestPostgres.freshDatabase()
        let replicas = try await Self.replicas(2, on: database)
        defer { replicas.forEach { $0.killInBackground(SIGTERM) } }
        let admin = try await replicas[0].api.signIn()
        let editorId = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: "ed@example.com", password: "editor-pass", role: "editor"))
        let editor = try await replicas[1].api.signIn("ed@example.com", "editor-pass")
        #expect(try await editor.call(.get, "/2022-09-01-00/service").status == .ok)
        for round in 0..<20 {
            let disabled = round % 2 == 0
            #expect(try await admin.call(.patch, "/2022-09-01-00/user/\(editorId)", json: UpdateUserRequest(disabled: disabled)).status == .ok)
            if disabled {
                try await editor.call(.get, "/2022-09-01-00/service").expectError(
                    .unauthorized, "auth_failure", message: "user ed@example.com is disabled; ask an admin of your organization")
            } else {
                try await editor.call(.get, "/2022-09-01-00/service").expectError(.unauthorized, "auth_failure", containing: "this session has ended")
            }
        }
    }

    @Test func aWriteOnOneReplicaIsReadOnEveryOtherAtOnce() async throws {
        let database = try await TestPostgres.freshDatabase()
        let replicas = try await Self.replicas(3, on: database)
        defer { replicas.forEach { $0.killInBackground(SIGTERM) } }
        let a = try await replicas[0].api.signIn()
        // The token, signed with the secret the replicas share, works on each of them.
        let b = replicas[1].api.as_(a.token)
        let c = replicas[2].api.as_(a.token)

        let service = try await a.create("/2022-09-01-00/service", CreateServiceRequest(name: "db"))
        #expect(try await b.call(.get, "/2022-09-01-00/service/\(service)").status == .ok)
        let environment = try await b.create("/2022-09-01-00/service/\(service)/environment", CreateServiceEnvironmentRequest(name: "prod"))
        let config = try await c.create(
            "/2022-09-01-00/service/\(service)/image-config",
            CreateImageConfigRequest(description: "app", imageName: "acme/app", serviceEnvironmentId: environment, imageTag: "1"))
        let path = "/2022-09-01-00/service/\(service)/image-config/\(config)"
        // Each replica keeps Describe answers; each change made on one must show on the others' next read.
        for round in 2...21 {
            for replica in [a, b, c] { _ = try await replica.call(.get, path) }
            let writer = [a, b, c][round % 3]
            #expect(try await writer.call(.patch, path, json: UpdateImageConfigRequest(imageTag: "\(round)")).status == .ok)
            for (index, reader) in [a, b, c].enumerated() {
                let tag = try await reader.call(.get, path).decode(DescribeImageConfigResult.self).imageTag
                #expect(tag == "\(round)", "replica \(index) after a write on replica \(round % 3)")
            }
        }
        let listed = try await c.call(.get, "/2022-09-01-00/service/\(service)/serviceenvironment/\(environment)/image-config")
        #expect(try listed.decode(ListImageConfigsResult.self).ids == [config])
    }

    @Test func killingTheReplicaThatDrivesARolloutLosesNothing() async throws {
        let database = try await TestPostgres.freshDatabase()
        // The first replica takes the engine's lease; agents talk only to the two others, which survive.
        let driver = try await ServerProcess(database: database)
        try await eventually("the first replica drives rollouts", within: 15) { driver.log.contains("this replica now drives rollouts") }
        let others = try await Self.replicas(2, on: database)
        defer { others.forEach { $0.killInBackground(SIGTERM) } }
        let admin = try await others[0].api.signIn()
        let fleet = try await Fleet.make(admin, instances: 6)
        let scripts = try ApplyScripts()
        let apply = try scripts.script(name: "apply.sh", sleep: 0.1, slowOnSuffix: ":2", slowSeconds: 1.5)
        let agents = try fleet.instances.enumerated().map { index, instance in
            try AgentProcess(server: "http://127.0.0.1:\(others[index % 2].port)", token: instance.agentToken, applyCommand: apply)
        }
        defer { agents.forEach { $0.stop() } }
        try await eventually("every agent applied its first state") { scripts.runs.count == 6 }

        try await fleet.ship(admin, tag: "2")
        let started = try await driver.api.as_(admin.token).call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 2))
        #expect(started.status == .ok, "\(started.body)")
        #expect(try started.decode(RolloutStatusResult.self).totalWaves == 3)
        // Mid-way: the first wave done, the next one started by the driver.
        try await eventually("the second wave is under way") {
            let status = try await fleet.status(admin)
            return status.completed >= 2 && status.currentWave >= 2
        }
        await driver.kill(SIGKILL)

        let done = try await waitForRollout(admin, fleet, "COMPLETE", within: 60)
        #expect(done.completed == 6 && done.failed == 0)
        for instance in fleet.instances {
            #expect(scripts.runs(of: instance.id, image: Self.v2) == 1, "\(instance.id) applied v2 exactly once")
        }
        // The lease's holder names its process: one of the survivors.
        let holder = try await TestPostgres.value(database, "SELECT holder FROM slipway_leases WHERE name = 'rollout-engine'")
        let survivors = others.map { "/\($0.process.processIdentifier)/" }
        #expect(survivors.contains { holder.contains($0) }, "the lease is held by \(holder), not by one of \(survivors)")
    }

    /// A replica that does not drive rollouts still hears of them (each request it answers and each change
    /// another replica announces wakes its engine), and goes back to sleep each time: its engine's pass
    /// count stays put once nothing happens. (A cancelled timer that still woke the engine once made such a
    /// replica spin on both cores, growing without bound.)
    @Test func aReplicaThatDoesNotDriveSleepsBetweenWakeUps() async throws {
        let database = try await TestPostgres.freshDatabase()
        let driver = try await ServerProcess(database: database)
        defer { driver.killInBackground(SIGTERM) }
        try await eventually("the first replica drives rollouts", within: 15) { driver.log.contains("this replica now drives rollouts") }
        let follower = try await ServerProcess(database: database)
        defer { follower.killInBackground(SIGTERM) }
        let admin = try await follower.api.signIn()
        try await Fleet.wakeTheEngineThrice(admin)
        let (before, after) = try await follower.api.enginePassesTwoSecondsApart()
        #expect(after - before <= 1, "the follower's engine passed \(after - before) times in 2 s with nothing to do")
    }

    @Test func aLongPollIsWokenWhenAnotherReplicaChangesItsDesiredState() async throws {
        let database = try await TestPostgres.freshDatabase()
        let replicas = try await Self.replicas(2, on: database)
        defer { replicas.forEach { $0.killInBackground(SIGTERM) } }
        let admin = try await replicas[0].api.signIn()
        let fleet = try await Fleet.make(admin, instances: 1)
        let instance = fleet.instances[0]
        let agent = replicas[1].api.as_(instance.agentToken)
        let first = try await agent.call(.get, "/agent/v1/desired-state")
        #expect(first.status == .ok)
        let etag = try #require(first.headers[.eTag])

        // A long-poll on replica 1 while replica 0 (which drives) starts a rollout to 2.0.
        let poll = Task {
            let started = ContinuousClock.now
            let reply = try await agent.call(.get, "/agent/v1/desired-state?wait=20", headers: [.ifNoneMatch: etag])
            return (reply, ContinuousClock.now - started)
        }
        try await Task.sleep(for: .milliseconds(500))
        try await fleet.ship(admin, tag: "2")
        #expect(try await admin.call(.post, fleet.rolloutPath).status == .ok)
        let (reply, waited) = try await poll.value
        #expect(reply.status == .ok)
        #expect(try reply.decode(DesiredStateResult.self).tierVersion == "2.0")
        #expect(waited < .seconds(10), "woken by the change, not by the long-poll's end (waited \(waited))")
    }

    @Test func slipwaydMigrateMovesASQLiteDatabaseOntoPostgres() async throws {
        // A SQLite database with a user session, a released config and an instance with its agent token.
        let file = temporarySQLiteFile()
        let before = try await ServerProcess(database: file)
        let admin = try await before.api.signIn()
        let fleet = try await Fleet.make(admin, instances: 2)
        let instance = fleet.instances[0]
        let described = try await admin.call(.get, fleet.fixture.imageConfigPath).decode(DescribeImageConfigResult.self)
        await before.kill(SIGTERM)

        let target = try await TestPostgres.freshDatabase()
        let (status, output) = try await ServerProcess.run(["migrate", "--from", file, "--to", target])
        #expect(status == 0, "\(output)")
        #expect(output.contains("instances: 2 rows"), "\(output)")
        #expect(output.contains("users: 1 rows"), "\(output)")

        // The same answers, the same session, the same agent token, from PostgreSQL, given the SQLite server's
        // token key file (its keys are not in the database).
        let after = try await ServerProcess(database: target, environment: ["SLIPWAY_JWT_SECRET": "", "SLIPWAY_JWT_KEY_FILE": file + ".jwt-keys"])
        defer { after.killInBackground(SIGTERM) }
        let same = after.api.as_(admin.token)
        #expect(try await same.call(.get, fleet.fixture.imageConfigPath).decode(DescribeImageConfigResult.self) == described)
        let agent = try await after.api.as_(instance.agentToken).call(.get, "/agent/v1/desired-state")
        #expect(agent.status == .ok)
        #expect(try agent.decode(DesiredStateResult.self).tierVersion == "1.0")
        // New rows do not collide with the copied ones.
        _ = try await same.create("/2022-09-01-00/service", CreateServiceRequest(name: "after-the-move"))

        // Into a database that holds data: refused, nothing written.
        let (again, refusal) = try await ServerProcess.run(["migrate", "--from", file, "--to", target])
        #expect(again == 78)
        #expect(refusal.contains("the PostgreSQL database already holds data; copy into an empty database"), "\(refusal)")
    }

    @Test func postgresRestartedUnderLoadLosesNoAcknowledgedWrite() async throws {
        // A cluster of its own: the other tests share the suite's.
        let cluster = try await TestPostgres.startCluster()
        defer { TestPostgres.stopClusterInBackground(cluster.directory) }
        let database = TestPostgres.url(cluster.url, database: "postgres")
        let server = try await ServerProcess(database: database)
        defer { if server.process.isRunning { server.killInBackground(SIGKILL) } }
        let api = try await server.api.signIn()

        let tally = Tally()
        let writers = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        var index = 0
                        while !Task.isCancelled {
                            index += 1
                            let name = "w\(writer)-\(index)"
                            let started = ContinuousClock.now
                            let reply = try await api.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: name))
                            let took = ContinuousClock.now - started
                            switch reply.status.code {
                            case 200: tally.acknowledged.withLock { $0.append(name) }
                            case 503:
                                let error = try JSONDecoder().decode(GoaError.self, from: Data(reply.body.utf8))
                                if !error.temporary { tally.refusals.withLock { $0.append("503 without temporary: \(reply.body)") } }
                                try await Task.sleep(for: .milliseconds(50))
                            default: tally.refusals.withLock { $0.append("\(reply.status.code): \(reply.body)") }
                            }
                            if took > .seconds(25) { tally.refusals.withLock { $0.append("a request took \(took)") } }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await eventually("writes go through") { tally.acknowledged.withLock { $0.count } >= 20 }
        try await TestPostgres.cluster("stop-server", cluster.directory)
        // Down: every request answers 503 temporary, at once.
        let down = try await api.call(.get, "/2022-09-01-00/service")
        #expect(down.status == .serviceUnavailable, "\(down.body)")
        let error = try down.decode(GoaError.self)
        #expect(error.name == "service_unavailable" && error.temporary, "\(down.body)")
        #expect(error.message.hasSuffix("retry the request"), "\(error.message)")
        try await Task.sleep(for: .seconds(1))
        try await TestPostgres.cluster("start-server", cluster.directory)
        let before = tally.acknowledged.withLock { $0.count }
        try await eventually("writes go through again", within: 30) { tally.acknowledged.withLock { $0.count } >= before + 20 }
        writers.cancel()
        _ = try? await writers.value

        #expect(tally.refusals.withLock { $0 }.isEmpty, "\(tally.refusals.withLock { $0 }.prefix(5))")
        var names: Set<String> = []
        var cursor: String?
        repeat {
            let page = try await api.call(.get, "/2022-09-01-00/service?pageSize=100" + (cursor.map { "&nextPageToken=\($0)" } ?? ""))
                .decode(ListServicesResult.self)
            names.formUnion(page.services.map(\.name))
            cursor = page.nextPageToken
        } while cursor != nil
        let lost = tally.acknowledged.withLock { $0 }.filter { !names.contains($0) }
        #expect(lost.isEmpty, "acknowledged but lost: \(lost)")
        // And it still shuts down cleanly.
        await server.kill(SIGTERM)
        #expect(
            server.process.terminationReason == .exit && server.process.terminationStatus == 0,
            "ended by \(server.process.terminationReason) with \(server.process.terminationStatus); log ends: \(server.log.suffix(3000))")
    }
}

/// What concurrent writers saw.
final class Tally: Sendable {
    let acknowledged = Mutex<[String]>([])
    let refusals = Mutex<[String]>([])
}
