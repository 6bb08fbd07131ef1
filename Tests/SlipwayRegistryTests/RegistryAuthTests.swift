import Crypto
import RegistryTestSupport
import SlipwayRegistry
import Testing

/// htpasswd basic auth (distribution 2.8).
@Suite(.enabled(if: TestRegistry.basic != nil, "SLIPWAY_TEST_REGISTRY_BASIC is not set (scripts/test.sh sets it)"))
struct BasicAuthRegistryTests {
    let access = TestRegistry.basic!
    let client = RegistryClient()

    @Test func withCredentialsItResolvesAndVerifies() async throws {
        let repository = TestRegistry.uniqueRepository("basic")
        let pushed = try await pushImage(access: access, repository: repository, tag: "v1", content: "basic")
        #expect(try await client.resolveDigest(access, repository: repository, tag: "v1") == pushed)
        let key = P256.Signing.PrivateKey()
        try await signImage(access: access, repository: repository, digest: pushed, key: key, dockerReference: "\(access.host)/\(repository)")
        try await client.verifySignature(access, repository: repository, digest: pushed, publicKeyPEM: key.publicKey.pemRepresentation)
    }

    @Test func withoutCredentialsItNeedsThem() async throws {
        let anonymous = RegistryAccess(host: access.host, insecure: true)
        let error = await expectRegistryError(.refused) {
            _ = try await client.resolveDigest(anonymous, repository: "slipway/any", tag: "v1")
        }
        #expect(
            error?.message
                == "registry \(access.host) needs credentials for \(access.host)/slipway/any:v1 (it asks for Basic auth and no username/password is configured)"
        )
    }

    @Test func wrongCredentialsAreRefused() async throws {
        let wrong = RegistryAccess(host: access.host, insecure: true, username: access.username, password: "wrong")
        let error = await expectRegistryError(.refused) {
            _ = try await client.resolveDigest(wrong, repository: "slipway/any", tag: "v1")
        }
        #expect(
            error?.message == "registry \(access.host) refused the credentials of user \"\(access.username!)\" for \(access.host)/slipway/any:v1 (HTTP 401)"
        )
    }
}

/// Docker token auth: distribution 2.8 with the token service of scripts/token-server.sh.
@Suite(.enabled(if: TestRegistry.token != nil, "SLIPWAY_TEST_REGISTRY_TOKEN is not set (scripts/test.sh sets it)"))
struct TokenAuthRegistryTests {
    let access = TestRegistry.token!
    let client = RegistryClient()

    @Test func withCredentialsItResolvesAndVerifies() async throws {
        let repository = TestRegistry.uniqueRepository("token")
        let pushed = try await pushImage(access: access, repository: repository, tag: "v1", content: "token")
        #expect(try await client.resolveDigest(access, repository: repository, tag: "v1") == pushed)
        // Again, with the cached token.
        #expect(try await client.resolveDigest(access, repository: repository, tag: "v1") == pushed)
        let key = P256.Signing.PrivateKey()
        try await signImage(access: access, repository: repository, digest: pushed, key: key, dockerReference: "\(access.host)/\(repository)")
        try await client.verifySignature(access, repository: repository, digest: pushed, publicKeyPEM: key.publicKey.pemRepresentation)
    }

    @Test func wrongCredentialsAreRefused() async throws {
        let wrong = RegistryAccess(host: access.host, insecure: true, username: access.username, password: "wrong")
        let error = await expectRegistryError(.refused) {
            _ = try await client.resolveDigest(wrong, repository: "slipway/any", tag: "v1")
        }
        let message = error?.message ?? ""
        #expect(message.hasPrefix("registry \(access.host) refused the credentials of user \"\(access.username!)\" for \(access.host)/slipway/any:v1: its token service http://127.0.0.1:"))
        #expect(message.hasSuffix("answered HTTP 401"))
    }

    @Test func withoutCredentialsItNeedsThem() async throws {
        let anonymous = RegistryAccess(host: access.host, insecure: true)
        let error = await expectRegistryError(.refused) {
            _ = try await client.resolveDigest(anonymous, repository: "slipway/any", tag: "v1")
        }
        #expect(error?.message.hasPrefix("registry \(access.host) needs credentials for \(access.host)/slipway/any:v1: its token service") == true)
    }
}
