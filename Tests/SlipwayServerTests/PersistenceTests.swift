import Foundation
import SlipwayWire
import Testing

@testable import SlipwayServer

@Suite("Data outlives the server process")
struct PersistenceTests {
    @Test func everythingIsThereAfterARestart() async throws {
        let configuration = try await testConfiguration()
        let (fixture, token) = try await withServer(configuration) { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            #expect(try await api.call(.post, fixture.imageConfigPath + "/release").status == .ok)
            _ = try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "17.1"))
            return (fixture, api.token!)
        }
        try await withServer(configuration) { api in
            // The signing key is kept in the database, so a token from before the restart still works.
            let api = api.as_(token)
            let described = try await api.call(.get, fixture.imageConfigPath).decode(DescribeImageConfigResult.self)
            #expect(described.imageTag == "17.1")
            let released = try await api.call(
                .get, fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)&ProductTierVersion=1.0"
            ).decode(DescribeImageConfigResult.self)
            #expect(released.imageTag == "16.0")
            // The admin is not created twice, and the same password still signs in.
            _ = try await api.signIn()
            let users = try await api.call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self)
            #expect(users.users.count == 1)
            #expect(try await api.call(.post, fixture.imageConfigPath + "/release").status == .ok)
        }
    }

    /// The database, its WAL and shared-memory files, the lock and the secret key are the owner's alone.
    @Test func theFilesAreReadableByTheOwnerOnly() async throws {
        let path = temporarySQLiteFile()
        let server = try await ServerProcess(database: path)
        let api = try await server.api.signIn()
        _ = try await api.create("/2022-09-01-00/service", CreateServiceRequest(name: "files"))
        for file in [path, path + "-wal", path + "-shm", path + ".lock", path + ".key"] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int, "\(file)")
            #expect(mode & 0o077 == 0, "\(file) has mode \(String(mode, radix: 8))")
        }
        await server.kill(SIGTERM)
    }

    @Test func aConfiguredSecretSignsTokensAcrossServers() async throws {
        var configuration = try await testConfiguration()
        configuration.jwtSecret = String(repeating: "k", count: 32)
        let token = try await withServer(configuration) { api in try await api.signIn().token! }
        // The same key and database after a restart: the token still signs its user in.
        try await withServer(configuration) { (api: APIClient) async throws -> Void in
            #expect(try await api.as_(token).call(.get, "/2022-09-01-00/service").status == .ok)
        }
        var other = try await testConfiguration()
        other.jwtSecret = configuration.jwtSecret
        try await withServer(other) { (api: APIClient) async throws -> Void in
            // The same key, but its user does not exist here: a valid signature is not enough.
            try await api.as_(token).call(.get, "/2022-09-01-00/service").expectError(
                .unauthorized, "auth_failure", message: "the user of this token no longer exists")
        }
        var short = try await testConfiguration()
        short.jwtSecret = "too-short"
        await #expect(throws: ConfigurationError.self) { try await withServer(short) { _ in } }
    }
}
