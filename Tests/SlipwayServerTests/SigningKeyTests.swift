import Foundation
import SlipwayServer
import SlipwayTestSupport
import SlipwayWire
import Testing

/// The keys that sign access tokens: outside the database, named by `kid`, rotated without a restart.
@Suite("Token signing keys", .timeLimit(.minutes(2)))
struct SigningKeyTests {
    /// The `kid` in a JWT's header.
    static func kid(of token: String) throws -> String? {
        var header = String(token.split(separator: ".")[0]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while header.count % 4 != 0 { header += "=" }
        let object = try JSONSerialization.jsonObject(with: try #require(Data(base64Encoded: header))) as? [String: Any]
        return object?["kid"] as? String
    }

    @Test func theKeyFileIsPrivateTheDatabaseHoldsNoKeyAndARotatedKeyStillVerifiesOldTokens() async throws {
        let configuration = try await testConfiguration(database: temporarySQLiteFile())
        let keyFile = configuration.database + ".jwt-keys"
        try await withServer(configuration) { api in
            let before = try await api.signIn()
            let firstKeys = try SigningKeyFile.read(keyFile)
            #expect(firstKeys.count == 1)
            #expect(try Self.kid(of: try #require(before.token)) == firstKeys[0].kid)
            let mode = try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int
            #expect(mode == 0o600)

            let (added, dropped) = try SigningKeyFile.rotate(keyFile, now: Date(), tokenLifetime: 86_400)
            #expect(dropped.isEmpty)
            // The server looks at the file again at most once a second.
            try await Task.sleep(for: .milliseconds(1100))
            let after = try await api.signIn()
            #expect(try Self.kid(of: try #require(after.token)) == added.kid)
            // Both verify: the old token until it expires.
            #expect(try await before.call(.get, "/2022-09-01-00/service").status == .ok)
            #expect(try await after.call(.get, "/2022-09-01-00/service").status == .ok)

            // No key is in the database files: a copy of them signs nothing.
            let secrets = try SigningKeyFile.read(keyFile).map { Data($0.secret) }
            for suffix in ["", "-wal"] {
                guard let bytes = FileManager.default.contents(atPath: configuration.database + suffix) else { continue }
                for secret in secrets {
                    #expect(bytes.range(of: secret) == nil, "a signing key is in \(configuration.database + suffix)")
                    #expect(bytes.range(of: Data(secret.base64EncodedString().utf8)) == nil)
                }
            }
        }
        // Three days on, the first key retired long enough ago for every token it signed to have expired: it is
        // dropped. The second retires only now, so it stays for a day beside the new one.
        let (added, dropped) = try SigningKeyFile.rotate(keyFile, now: Date().addingTimeInterval(3 * 86_400), tokenLifetime: 86_400)
        let kept = try SigningKeyFile.read(keyFile)
        #expect(dropped.count == 1)
        #expect(kept.count == 2)
        #expect(kept.last?.kid == added.kid)
    }

    @Test func aBrokenKeyFileOrAMissingKeyOnPostgreSQLIsRefusedAtStart() async throws {
        let database = temporarySQLiteFile()
        try "not a key\n".write(toFile: database + ".jwt-keys", atomically: true, encoding: .utf8)
        let (status, text) = try await ServerProcess.run(["--port", "0", "--database", database])
        #expect(status == 78)
        #expect(
            text.contains("the signing key file \(database).jwt-keys, line 1, is not '<kid> <base64 of at least 32 bytes> <created, Unix seconds>'"),
            "\(text)")

        var environment = ProcessInfo.processInfo.environment
        environment["SLIPWAY_JWT_SECRET"] = nil
        environment["SLIPWAY_SECRET_KEY"] = testSecretKey
        let url = try await TestPostgres.freshDatabase()
        defer { TestPostgres.drop(url) }
        let (pgStatus, pgText) = try await ServerProcess.run(["--port", "0", "--database", url], environment: environment)
        #expect(pgStatus == 78)
        #expect(pgText.contains("with PostgreSQL, give the key that signs access tokens (the same on every replica): set SLIPWAY_JWT_SECRET"), "\(pgText)")
    }

    @Test func rotateJWTKeyCreatesThenRotatesTheFile() async throws {
        let database = temporarySQLiteFile()
        let (created, createdText) = try await ServerProcess.run(["rotate-jwt-key", "--database", database])
        #expect(created == 0, "\(createdText)")
        #expect(createdText.hasPrefix("created \(database).jwt-keys with key "), "\(createdText)")
        let (rotated, rotatedText) = try await ServerProcess.run(["rotate-jwt-key", "--jwt-key-file", database + ".jwt-keys"])
        #expect(rotated == 0, "\(rotatedText)")
        let keys = try SigningKeyFile.read(database + ".jwt-keys")
        #expect(keys.count == 2)
        #expect(rotatedText == "added key \(keys[1].kid) to \(database).jwt-keys; it signs from now on\n")
    }
}
