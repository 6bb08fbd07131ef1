import Foundation
import SlipwayWire
import Testing

@Suite("The slipwayd process: crashes, restarts, shutdown")
struct ProcessTests {
    @Test func acknowledgedWritesSurviveSIGKILL() async throws {
        let database = try await temporaryDatabase()
        let server = try await ServerProcess(database: database)
        let api = try await server.api.signIn()
        let service = try await api.create("/2022-09-01-00/service", CreateServiceRequest(name: "db"))
        let environment = try await api.create("/2022-09-01-00/service/\(service)/environment", CreateServiceEnvironmentRequest(name: "prod"))
        _ = try await api.create("/2022-09-01-00/service/\(service)/product-tier", CreateProductTierRequest(name: "basic", serviceEnvironmentId: environment))
        var ids: [String] = []
        for index in 0..<20 {
            ids.append(
                try await api.create(
                    "/2022-09-01-00/service/\(service)/image-config",
                    CreateImageConfigRequest(description: "", imageName: "app\(index)", serviceEnvironmentId: environment)))
        }
        #expect(try await api.call(.post, "/2022-09-01-00/service/\(service)/image-config/\(ids[0])/release").status == .ok)
        // The last acknowledged write, then no chance to flush anything.
        let update = try await api.call(.patch, "/2022-09-01-00/service/\(service)/image-config/\(ids[19])", json: UpdateImageConfigRequest(imageTag: "v2"))
        #expect(update.status == .ok)
        await server.kill(SIGKILL)

        let restarted = try await ServerProcess(database: database)
        defer { restarted.killInBackground(SIGTERM) }
        let after = restarted.api.as_(api.token)
        let list = try await after.call(.get, "/2022-09-01-00/service/\(service)/serviceenvironment/\(environment)/image-config")
        #expect(try list.decode(ListImageConfigsResult.self).ids == ids)
        let described = try await after.call(.get, "/2022-09-01-00/service/\(service)/image-config/\(ids[19])")
        #expect(try described.decode(DescribeImageConfigResult.self).imageTag == "v2")
        try await after.call(.post, "/2022-09-01-00/service/\(service)/image-config/\(ids[0])/release").expectError(
            .conflict, "invalid_state", containing: "nothing changed since the last release")
    }

    @Test func aSecondSlipwaydOnTheSameSQLiteFileRefusesToStart() async throws {
        let database = temporarySQLiteFile()
        let first = try await ServerProcess(database: database)
        defer { first.killInBackground(SIGTERM) }
        let (status, text) = try await ServerProcess.run(["--port", "0", "--database", database])
        #expect(status == 78)
        #expect(text.contains("the SQLite database \(database) is in use by process \(first.process.processIdentifier)"), "\(text)")
        // The first goes on answering.
        #expect(try await first.api.call(.get, "/healthz").status == .ok)
    }

    /// A PostgreSQL URL slipwayd cannot use is refused at start with a message that names what is wrong.
    @Test(arguments: [
        ("postgres://u@127.0.0.1:1/db?sslmode=sometimes", "sslmode must be one of disable, prefer, require, verify-ca, verify-full; got 'sometimes'"),
        ("postgres://u@127.0.0.1:1/db?pool_size=0", "pool_size must be a whole number from 1 to 10000; got '0'"),
        ("postgres://u@127.0.0.1:1/db?poolsize=4", "unknown PostgreSQL URL parameter 'poolsize'; understood: sslmode, sslrootcert, connect_timeout, pool_size"),
        ("postgres://127.0.0.1:1/db", "the PostgreSQL URL names no user; expected postgres://user:password@host:port/database"),
        ("postgres://u:secret@127.0.0.1:1/db?sslmode=disable", "cannot open the PostgreSQL database 127.0.0.1:1/db: PostgreSQL at 127.0.0.1:1 cannot be reached"),
    ])
    func refusesAPostgresURLItCannotUse(url: String, message: String) async throws {
        let (status, text) = try await ServerProcess.run(["--port", "0", "--database", url])
        #expect(status == 78)
        #expect(text.contains(message), "\(text)")
        #expect(!text.contains("secret"), "the password is never shown")
    }

    @Test func sigtermShutsDownCleanly() async throws {
        let server = try await ServerProcess(database: temporaryDatabase())
        #expect(try await server.api.call(.get, "/healthz").status == .ok)
        await server.kill(SIGTERM)
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)
    }

    @Test func refusesToStartOnABadConfiguration() async throws {
        let (status, text) = try await ServerProcess.run(
            ["--database", temporaryDatabase()], environment: ["SLIPWAY_JWT_SECRET": "short", "SLIPWAY_PORT": "0"])
        #expect(status == 78)
        #expect(text.contains("SLIPWAY_JWT_SECRET must be at least 32 bytes long"))
    }

    /// SIGKILL of the server in the middle of a rollout: after a restart it carries on, and every
    /// instance is upgraded exactly once (each apply script logs its runs).
    @Test func rolloutSurvivesSIGKILLOfTheServer() async throws {
        let database = try await temporaryDatabase()
        let port = try freeLoopbackPort()
        var server = try await ServerProcess(database: database, port: port)
        let api = try await server.api.signIn()
        let fleet = try await Fleet.make(api, instances: 8)
        let scripts = try ApplyScripts()
        let apply = try scripts.script(name: "apply.sh", sleep: 0.4)
        let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
        defer { agents.forEach { $0.stop() } }
        try await eventually("first states applied") { scripts.runs.count == 8 }
        try await fleet.ship(api, tag: "2")
        _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 2))
        try await eventually("the rollout is under way") { try await fleet.status(api).completed >= 2 }
        await server.kill(SIGKILL)
        try await Task.sleep(for: .milliseconds(500))

        server = try await ServerProcess(database: database, port: port)
        defer { server.killInBackground(SIGTERM) }
        let done = try await waitForRollout(api, fleet, "COMPLETE", within: 90)
        #expect(done.completed == 8)
        #expect(done.failed == 0)
        for instance in fleet.instances {
            #expect(scripts.runs(of: instance.id, image: "docker.io/acme/app:2") == 1, "\(instance.id) upgraded exactly once")
        }
    }
}

/// A loopback port nobody listens on right now.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard bound == 0 else { throw ServerProcess.ProcessError(message: "cannot bind a loopback socket") }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
