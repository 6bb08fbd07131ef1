import Crypto
import Foundation
import RegistryTestSupport
import SlipwayRegistry
import SlipwayTestSupport
import SlipwayWire
import Testing

/// Releases against the real registries scripts/test.sh starts: digests pinned, cosign signatures checked,
/// agents handed exactly what was checked.
@Suite("Releases that pin what they checked", .enabled(if: TestRegistry.anonymous != nil))
struct SignedReleaseTests {
    /// An image config on a registry of the test's, with its repository there.
    struct Setup {
        var fixture: Fixture
        var registryId: String
        var repository: String
        var access: RegistryAccess
        var versionSets: String { "/2022-09-01-00/service/\(fixture.serviceId)/productTier/\(fixture.productTierId)/version-set" }
        var image: String { "\(access.host)/\(repository)" }

        func versions(_ api: APIClient) async throws -> [TierVersionSetResult] {
            try await api.call(.get, versionSets).decode(ListTierVersionSetsResult.self).tierVersionSets
        }
    }

    static func setup(
        _ api: APIClient, access: RegistryAccess, key: P256.Signing.PrivateKey?, tag: String = "1", registryAccess: RegistryAccess? = nil
    ) async throws -> Setup {
        let registry = registryAccess ?? access
        let registryId = try await api.create(
            "/2022-09-01-00/image-registry",
            CreateImageRegistryRequest(
                name: "local-\(UUID().uuidString.prefix(8))", host: registry.host, username: registry.username, password: registry.password,
                insecure: true))
        let serviceId = try await api.create("/2022-09-01-00/service", CreateServiceRequest(name: "svc-\(UUID().uuidString.prefix(8))"))
        let environmentId = try await api.create("/2022-09-01-00/service/\(serviceId)/environment", CreateServiceEnvironmentRequest(name: "prod"))
        let productTierId = try await api.create(
            "/2022-09-01-00/service/\(serviceId)/product-tier", CreateProductTierRequest(name: "basic", serviceEnvironmentId: environmentId))
        let repository = TestRegistry.uniqueRepository("app")
        let imageConfigId = try await api.create(
            "/2022-09-01-00/service/\(serviceId)/image-config",
            CreateImageConfigRequest(
                description: "app", imageName: repository, serviceEnvironmentId: environmentId, imageTag: tag, imageRegistryId: registryId,
                imageSignaturePublicKeyPEM: key?.publicKey.pemRepresentation))
        let fixture = Fixture(serviceId: serviceId, environmentId: environmentId, productTierId: productTierId, imageConfigId: imageConfigId)
        return Setup(fixture: fixture, registryId: registryId, repository: repository, access: access)
    }

    @Test func aSignedImageIsReleasedWithItsDigestPinnedAndAMovedTagDoesNotMoveIt() async throws {
        let access = try #require(TestRegistry.anonymous)
        try await withServer { api in
            let api = try await api.signIn()
            let key = P256.Signing.PrivateKey()
            let setup = try await Self.setup(api, access: access, key: key)
            let first = try await pushImage(access: access, repository: setup.repository, tag: "1", content: "first build")
            try await signImage(access: access, repository: setup.repository, digest: first, key: key, dockerReference: setup.image)
            #expect(try await api.call(.post, setup.fixture.imageConfigPath + "/release").status == .ok)
            var versions = try await setup.versions(api)
            #expect(versions.map(\.version) == ["1.0"])
            #expect(versions[0].imageConfigs.map(\.imageDigest) == [first])
            let described = try await api.call(.get, setup.fixture.imageConfigPath + "?ProductTierId=\(setup.fixture.productTierId)&ProductTierVersion=1.0")
                .decode(DescribeImageConfigResult.self)
            #expect(described.imageDigest == first && described.imageTag == "1")
            #expect(try await api.call(.get, setup.fixture.imageConfigPath).decode(DescribeImageConfigResult.self).imageDigest == nil)

            // The tag moves to an unsigned build: the release is refused, and 1.0 still pins the first.
            let second = try await pushImage(access: access, repository: setup.repository, tag: "1", content: "second build")
            #expect(second != first)
            try await api.call(.post, setup.fixture.imageConfigPath + "/release").expectError(
                .conflict, "invalid_state",
                containing: "cannot release image config \(setup.fixture.imageConfigId) (\(setup.image):1): no cosign signature found")
            versions = try await setup.versions(api)
            #expect(versions.map(\.version) == ["1.0"] && versions[0].imageConfigs.map(\.imageDigest) == [first])

            // Signed, the moved tag is a new version of the same revision; 1.0 keeps what it pinned.
            try await signImage(access: access, repository: setup.repository, digest: second, key: key, dockerReference: setup.image)
            #expect(try await api.call(.post, setup.fixture.imageConfigPath + "/release").status == .ok)
            versions = try await setup.versions(api)
            #expect(versions.map(\.version) == ["1.0", "2.0"])
            #expect(versions.map { $0.imageConfigs[0].imageDigest } == [first, second])
            try await api.call(.post, setup.fixture.imageConfigPath + "/release").expectError(
                .conflict, "invalid_state", containing: "nothing changed since the last release")
        }
    }

    @Test func whatDoesNotVerifyIsNotReleased() async throws {
        let access = try #require(TestRegistry.anonymous)
        try await withServer { api in
            let api = try await api.signIn()
            let key = P256.Signing.PrivateKey()
            let setup = try await Self.setup(api, access: access, key: key)
            let path = setup.fixture.imageConfigPath
            let prefix = "cannot release image config \(setup.fixture.imageConfigId) (\(setup.image):1): "
            try await api.call(.post, path + "/release").expectError(.conflict, "invalid_state", containing: prefix)
            try await api.call(.post, path + "/release").expectError(.conflict, "invalid_state", containing: "\(setup.repository):1")

            let digest = try await pushImage(access: access, repository: setup.repository, tag: "1", content: "unsigned")
            try await api.call(.post, path + "/release").expectError(.conflict, "invalid_state", containing: prefix + "no cosign signature found")

            try await signImage(access: access, repository: setup.repository, digest: digest, key: P256.Signing.PrivateKey(), dockerReference: setup.image)
            try await api.call(.post, path + "/release").expectError(.conflict, "invalid_state", containing: "does not verify with the public key")

            let other = "sha256:" + String(repeating: "e", count: 64)
            try await signImage(access: access, repository: setup.repository, digest: digest, key: key, payloadDigest: other, dockerReference: setup.image)
            try await api.call(.post, path + "/release").expectError(.conflict, "invalid_state", containing: other)

            try await signImage(
                access: access, repository: setup.repository, digest: digest, key: key, tamperPayloadAfterSigning: true, dockerReference: setup.image)
            try await api.call(.post, path + "/release").expectError(.conflict, "invalid_state", containing: "does not verify with the public key")
            #expect(try await setup.versions(api).isEmpty, "nothing was released")

            // A key that is not a public key is refused when the image config is created or updated.
            try await api.call(.patch, path, json: UpdateImageConfigRequest(imageSignaturePublicKeyPEM: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"))
                .expectError(.badRequest, "bad_request", containing: "imageSignaturePublicKeyPEM does not parse as a PEM public key")

            // Without a key the digest is still pinned, signed or not.
            #expect(try await api.call(.patch, path, json: UpdateImageConfigRequest(imageSignaturePublicKeyPEM: "")).status == .ok)
            #expect(try await api.call(.post, path + "/release").status == .ok)
            #expect(try await setup.versions(api).map { $0.imageConfigs[0].imageDigest } == [digest])
        }
    }

    @Test func aRegistryThatIsDownAnswers503AndNothingIsReleased() async throws {
        let access = try #require(TestRegistry.anonymous)
        try await withServer { api in
            let api = try await api.signIn()
            let down = RegistryAccess(host: "127.0.0.1:\(try freeLoopbackPort())", insecure: true)
            let setup = try await Self.setup(api, access: access, key: nil, registryAccess: down)
            let reply = try await api.call(.post, setup.fixture.imageConfigPath + "/release")
            reply.expectError(.serviceUnavailable, "service_unavailable", containing: "cannot release image config \(setup.fixture.imageConfigId) (\(down.host)/\(setup.repository):1)")
            #expect(try await setup.versions(api).isEmpty)
            // Not verifying the registry releases the tag as it is.
            #expect(try await api.call(.patch, "/2022-09-01-00/image-registry/\(setup.registryId)", json: UpdateImageRegistryRequest(verifyImages: false)).status == .ok)
            #expect(try await api.call(.post, setup.fixture.imageConfigPath + "/release").status == .ok)
            #expect(try await setup.versions(api).map { $0.imageConfigs[0].imageDigest } == [nil])
        }
    }

    @Test(.enabled(if: TestRegistry.basic != nil))
    func credentialsAreSealedAtRestAndUsedForReleases() async throws {
        let basic = try #require(TestRegistry.basic)
        let configuration = try await testConfiguration()
        let database = configuration.database
        try await withServer(configuration) { api in
            let api = try await api.signIn()
            var wrong = basic
            wrong.password = "not-the-password"
            let setup = try await Self.setup(api, access: basic, key: nil, registryAccess: wrong)
            let digest = try await pushImage(access: basic, repository: setup.repository, tag: "1", content: "private build")
            try await api.call(.post, setup.fixture.imageConfigPath + "/release").expectError(.conflict, "invalid_state", containing: "cannot release image config")
            #expect(try await setup.versions(api).isEmpty)
            let fixed = try await api.call(
                .patch, "/2022-09-01-00/image-registry/\(setup.registryId)", json: UpdateImageRegistryRequest(password: basic.password))
            #expect(fixed.status == .ok)
            #expect(try await api.call(.post, setup.fixture.imageConfigPath + "/release").status == .ok)
            #expect(try await setup.versions(api).map { $0.imageConfigs[0].imageDigest } == [digest])
            if let token = TestRegistry.token {
                let viaToken = try await Self.setup(api, access: token, key: nil)
                let tokenDigest = try await pushImage(access: token, repository: viaToken.repository, tag: "1", content: "token build")
                #expect(try await api.call(.post, viaToken.fixture.imageConfigPath + "/release").status == .ok)
                #expect(try await viaToken.versions(api).map { $0.imageConfigs[0].imageDigest } == [tokenDigest])
            }
        }
        guard !database.hasPrefix("postgres") else { return }
        // Neither password is anywhere in the database files; the key beside them is for the owner only.
        let password = try #require(basic.password)
        for file in [database, database + "-wal"] {
            // The WAL goes when the last connection closes; the main file then holds everything.
            guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: file)) else { continue }
            #expect(bytes.range(of: Data(password.utf8)) == nil, "\(file) holds the password in the clear")
            #expect(bytes.range(of: Data("not-the-password".utf8)) == nil, "\(file) holds the old password in the clear")
        }
        let mode = try FileManager.default.attributesOfItem(atPath: database + ".key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// A real agent gets `SLIPWAY_IMAGE` with the digest; with `--verify` it checks the signature itself and
    /// refuses one that was replaced in the registry after the release.
    @Test func agentsRunTheCheckedDigestAndVerifyItThemselves() async throws {
        let access = try #require(TestRegistry.anonymous)
        try await withServer { api in
            let api = try await api.signIn()
            let key = P256.Signing.PrivateKey()
            let setup = try await Self.setup(api, access: access, key: key)
            let first = try await pushImage(access: access, repository: setup.repository, tag: "1", content: "v1")
            try await signImage(access: access, repository: setup.repository, digest: first, key: key, dockerReference: setup.image)
            #expect(try await api.call(.post, setup.fixture.imageConfigPath + "/release").status == .ok)
            let instance = try await api.call(
                .post, "/2022-09-01-00/service/\(setup.fixture.serviceId)/environment/\(setup.fixture.environmentId)/instance",
                json: RegisterInstanceRequest(productTierId: setup.fixture.productTierId, name: "node-0")
            ).decode(RegisterInstanceResult.self)
            let scripts = try ApplyScripts()
            let apply = scripts.directory.appendingPathComponent("apply.sh").path
            try "#!/bin/sh\necho \"$SLIPWAY_INSTANCE_ID $SLIPWAY_IMAGE $SLIPWAY_IMAGE_DIGEST\" >> '\(scripts.log.path)'\n"
                .write(toFile: apply, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: apply)
            let agent = try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: apply, extraArguments: ["--verify"])
            defer { agent.stop() }
            let log = { (try? String(contentsOf: scripts.log, encoding: .utf8)) ?? "" }
            try await eventually("the first state applied") { log().contains(first) }
            #expect(log() == "\(instance.id) \(setup.image):1@\(first) \(first)\n")

            // 2.0 is signed and released; then its signature in the registry is replaced by a tampered one.
            #expect(try await api.call(.patch, setup.fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "2")).status == .ok)
            let second = try await pushImage(access: access, repository: setup.repository, tag: "2", content: "v2")
            try await signImage(access: access, repository: setup.repository, digest: second, key: key, dockerReference: setup.image)
            #expect(try await api.call(.post, setup.fixture.imageConfigPath + "/release").status == .ok)
            try await signImage(
                access: access, repository: setup.repository, digest: second, key: key, tamperPayloadAfterSigning: true, dockerReference: setup.image)
            let rolloutPath = setup.fixture.imageConfigPath + "/rollout"
            #expect(try await api.call(.post, rolloutPath, json: RolloutPolicyRequest(autoRollback: false)).status == .ok)
            try await eventually("the rollout halts") {
                try await api.call(.get, rolloutPath).decode(RolloutStatusResult.self).status == "FAILED"
            }
            let rows = try await api.call(.get, rolloutPath + "/instances").decode(ListRolloutInstancesResult.self).instances
            #expect(rows.count == 1)
            #expect(rows.first?.reason?.contains("refusing to apply \(setup.image):2@\(second)") == true, "\(rows)")
            #expect(rows.first?.reason?.contains("does not verify with the public key") == true, "\(rows)")
            #expect(!log().contains(second), "the apply command never ran for the tampered image")
        }
    }
}

/// Deleting an image config: released versions stay history, a live rollout blocks it, and agents remove
/// what the next desired state no longer has.
@Suite("Releases are history, not locks")
struct DeletedImageConfigTests {
    @Test func agentsRemoveADeletedImageConfigOnceAReleaseLeavesItOut() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 1)
            let service = "/2022-09-01-00/service/\(fleet.fixture.serviceId)"
            let sidecar = try await api.create(
                service + "/image-config",
                CreateImageConfigRequest(description: "sidecar", imageName: "acme/sidecar", serviceEnvironmentId: fleet.fixture.environmentId, imageTag: "1"))
            #expect(try await api.call(.post, service + "/image-config/\(sidecar)/release").status == .ok)
            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh", sleep: 0.3)
            let removed = scripts.directory.appendingPathComponent("removed.log")
            let remove = scripts.directory.appendingPathComponent("remove.sh").path
            try "#!/bin/sh\necho \"$SLIPWAY_INSTANCE_ID $SLIPWAY_IMAGE_CONFIG_ID $SLIPWAY_IMAGE\" >> '\(removed.path)'\n"
                .write(toFile: remove, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: remove)
            let instance = try #require(fleet.instances.first)
            let agent = try AgentProcess(
                server: api.serverURL, token: instance.agentToken, applyCommand: apply, extraArguments: ["--remove-command", remove])
            defer { agent.stop() }
            try await eventually("both images applied") { scripts.runs.count == 1 }

            // The instance runs 1.0 (the app only): roll out 2.0 (app and sidecar).
            let sidecarRollout = service + "/image-config/\(sidecar)/rollout"
            #expect(try await api.call(.post, sidecarRollout, json: RolloutPolicyRequest()).status == .ok)
            try await eventually("the sidecar is applied") { scripts.runs(of: instance.id, image: "docker.io/acme/sidecar:1") == 1 }
            try await eventually("the rollout completes") {
                try await api.call(.get, sidecarRollout).decode(RolloutStatusResult.self).status == "COMPLETE"
            }

            // A rollout in progress blocks the delete.
            try await fleet.ship(api, tag: "2")
            // The same file the agent runs: from now on an apply takes 3 s, so the rollout is still in progress below.
            _ = try scripts.script(name: "apply.sh", sleep: 3)
            #expect(try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest()).status == .ok)
            let rolloutId = try await fleet.status(api).id
            try await api.call(.delete, fleet.fixture.imageConfigPath).expectError(
                .conflict, "invalid_state",
                message: "image config \(fleet.fixture.imageConfigId) has a rollout in progress (\(rolloutId)); let it finish or cancel it before deleting the image config")
            _ = try await waitForRollout(api, fleet, "COMPLETE")

            // Deleted, then the sidecar's next release leaves the app out: the agent removes it.
            #expect(try await api.call(.delete, fleet.fixture.imageConfigPath).status == .ok)
            #expect(try await api.call(.patch, service + "/image-config/\(sidecar)", json: UpdateImageConfigRequest(imageTag: "2")).status == .ok)
            #expect(try await api.call(.post, service + "/image-config/\(sidecar)/release").status == .ok)
            #expect(try await api.call(.post, sidecarRollout, json: RolloutPolicyRequest()).status == .ok)
            try await eventually("the app is removed") { ((try? String(contentsOf: removed, encoding: .utf8)) ?? "").contains(fleet.fixture.imageConfigId) }
            #expect(try String(contentsOf: removed, encoding: .utf8) == "\(instance.id) \(fleet.fixture.imageConfigId) docker.io/acme/app:2\n")
            try await eventually("the rollout completes") {
                try await api.call(.get, sidecarRollout).decode(RolloutStatusResult.self).status == "COMPLETE"
            }
            // The deleted config's rollouts stay in the instance's history.
            let described = try await api.call(.get, fleet.instancePath + "/\(instance.id)").decode(InstanceResult.self)
            #expect(described.upgradeHistory?.contains { $0.rolloutId == rolloutId } == true)
        }
    }
}

/// Where the key that seals registry passwords comes from, and what happens without one.
@Suite("The secret key")
struct SecretKeyTests {
    @Test(.enabled(if: TestPostgres.adminURL != nil))
    func replicasOnPostgresMustBeGivenTheKey() async throws {
        let database = try await TestPostgres.freshDatabase()
        defer { TestPostgres.drop(database) }
        var environment = ProcessInfo.processInfo.environment
        environment["SLIPWAY_SECRET_KEY"] = nil
        environment["SLIPWAY_SECRET_KEY_FILE"] = nil
        environment["SLIPWAY_JWT_SECRET"] = testJWTSecret
        let (status, text) = try await ServerProcess.run(["--port", "0", "--database", database], environment: environment)
        #expect(status == 78)
        #expect(text.contains("with PostgreSQL, give the key that seals registry passwords (the same on every replica): set SLIPWAY_SECRET_KEY"), "\(text)")
        environment["SLIPWAY_SECRET_KEY"] = "too-short"
        let (badStatus, bad) = try await ServerProcess.run(["--port", "0", "--database", database], environment: environment)
        #expect(badStatus == 78)
        #expect(bad.contains("SLIPWAY_SECRET_KEY is not usable: a secret key must be 32 random bytes"), "\(bad)")
    }

    @Test func aSQLiteServerMakesItsKeyFileOnceAndKeepsIt() async throws {
        let database = temporarySQLiteFile()
        let first = try await ServerProcess(database: database)
        await first.kill(SIGTERM)
        let key = try String(contentsOfFile: database + ".key", encoding: .utf8)
        #expect(try FileManager.default.attributesOfItem(atPath: database + ".key")[.posixPermissions] as? Int == 0o600)
        #expect(Data(base64Encoded: key.trimmingCharacters(in: .whitespacesAndNewlines))?.count == 32)
        let second = try await ServerProcess(database: database)
        await second.kill(SIGTERM)
        #expect(try String(contentsOfFile: database + ".key", encoding: .utf8) == key)
    }
}
