import Foundation
import SlipwayWire
import Testing

@Suite("The slipwayd process: crashes, restarts, shutdown")
struct ProcessTests {
    @Test func acknowledgedWritesSurviveSIGKILL() async throws {
        let database = temporaryDatabase()
        let server = try ServerProcess(database: database)
        let token = try await server.signIn()
        func create(_ path: String, _ body: String) async throws -> String {
            let reply = try await server.call(.POST, path, token: token, body: body)
            #expect(reply.status == 200, "\(reply.body)")
            return try JSONDecoder().decode(String.self, from: Data(reply.body.utf8))
        }
        let service = try await create("/2022-09-01-00/service", "{\"name\":\"db\"}")
        let environment = try await create("/2022-09-01-00/service/\(service)/environment", "{\"name\":\"prod\"}")
        _ = try await create("/2022-09-01-00/service/\(service)/product-tier", "{\"name\":\"basic\",\"serviceEnvironmentId\":\"\(environment)\"}")
        var ids: [String] = []
        for index in 0..<20 {
            ids.append(
                try await create(
                    "/2022-09-01-00/service/\(service)/image-config",
                    "{\"description\":\"\",\"imageName\":\"app\(index)\",\"serviceEnvironmentId\":\"\(environment)\"}"))
        }
        let release = try await server.call(.POST, "/2022-09-01-00/service/\(service)/image-config/\(ids[0])/release", token: token)
        #expect(release.status == 200)
        // The last acknowledged write, then no chance to flush anything.
        let update = try await server.call(.PATCH, "/2022-09-01-00/service/\(service)/image-config/\(ids[19])", token: token, body: "{\"imageTag\":\"v2\"}")
        #expect(update.status == 200)
        server.kill(SIGKILL)

        let restarted = try ServerProcess(database: database)
        defer { restarted.kill(SIGTERM) }
        let list = try await restarted.call(.GET, "/2022-09-01-00/service/\(service)/serviceenvironment/\(environment)/image-config", token: token)
        #expect(try JSONDecoder().decode(ListImageConfigsResult.self, from: Data(list.body.utf8)).ids == ids)
        let described = try await restarted.call(.GET, "/2022-09-01-00/service/\(service)/image-config/\(ids[19])", token: token)
        #expect(try JSONDecoder().decode(DescribeImageConfigResult.self, from: Data(described.body.utf8)).imageTag == "v2")
        let again = try await restarted.call(.POST, "/2022-09-01-00/service/\(service)/image-config/\(ids[0])/release", token: token)
        #expect(again.status == 409, "the release before the crash is still there")
    }

    @Test func sigtermShutsDownCleanly() async throws {
        let server = try ServerProcess(database: temporaryDatabase())
        #expect(try await server.call(.GET, "/healthz").status == 200)
        server.kill(SIGTERM)
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)
    }

    @Test func refusesToStartOnABadConfiguration() throws {
        let process = Process()
        process.executableURL = ServerProcess.executable
        process.arguments = ["--database", temporaryDatabase()]
        process.environment = ["SLIPWAY_JWT_SECRET": "short", "SLIPWAY_PORT": "0"]
        let output = Pipe()
        process.standardError = output
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 78)
        #expect(text.contains("SLIPWAY_JWT_SECRET must be at least 32 bytes long"))
    }
}
