import Foundation
import Slipway
import Testing

@Suite("The Swift SDK against a live server")
struct SDKTests {
    @Test func everyOperationOfAnImageConfigsLife() async throws {
        try await withServer { api in
            let slipway = SlipwayClient(serverURL: api.serverURL, credentials: .password(email: adminEmail, password: adminPassword))
            let service = try await slipway.createService(CreateServiceRequest(name: "pg", description: "Postgres"))
            let environment = try await slipway.createEnvironment(serviceId: service, CreateServiceEnvironmentRequest(name: "prod", type: "prod"))
            let tier = try await slipway.createProductTier(serviceId: service, CreateProductTierRequest(name: "basic", serviceEnvironmentId: environment))
            // Releases here pin the tag as it is: the tests reach no registry but their own on 127.0.0.1.
            let registry = try await slipway.createImageRegistry(
                CreateImageRegistryRequest(name: "ghcr", host: "ghcr.io", username: "bot", password: "s3cret", verifyImages: false))
            let described = try await slipway.describeImageRegistry(id: registry)
            #expect(described.hasPassword && !described.verifyImages && !described.insecure)
            try await slipway.updateImageRegistry(id: registry, UpdateImageRegistryRequest(password: ""))
            #expect(try await slipway.describeImageRegistry(id: registry).hasPassword == false)
            #expect(try await slipway.listImageRegistries().imageRegistries.count == 2)

            var ids: [String] = []
            for index in 0..<5 {
                ids.append(
                    try await slipway.createImageConfig(
                        serviceId: service,
                        CreateImageConfigRequest(
                            description: "app \(index)", imageName: "acme/app\(index)", serviceEnvironmentId: environment, imageTag: "1",
                            imageRegistryId: registry)))
            }
            // Pagination as an AsyncSequence, two ids a page.
            var listed: [String] = []
            for try await id in slipway.allImageConfigIDs(serviceId: service, serviceEnvironmentId: environment, pageSize: 2) { listed.append(id) }
            #expect(listed == ids)
            let first = try await slipway.listImageConfigs(serviceId: service, serviceEnvironmentId: environment, pageSize: 2)
            #expect(first.ids.count == 2 && first.nextPageToken != nil)

            try await slipway.releaseImageConfig(serviceId: service, id: ids[0])
            try await slipway.updateImageConfig(serviceId: service, id: ids[0], UpdateImageConfigRequest(imageTag: "2"))
            try await slipway.releaseImageConfig(serviceId: service, id: ids[0], productTierId: tier)
            #expect(try await slipway.describeImageConfig(serviceId: service, id: ids[0]).imageTag == "2")
            let v1 = try await slipway.describeImageConfig(serviceId: service, id: ids[0], productTierId: tier, productTierVersion: "1.0")
            #expect(v1.imageTag == "1")
            let sets = try await slipway.listVersionSets(serviceId: service, productTierId: tier)
            #expect(sets.tierVersionSets.map(\.status) == ["Active", "Preferred"])
            #expect(try await slipway.describeVersionSet(serviceId: service, productTierId: tier, version: "2.0").imageConfigs.first?.imageTag == "2")
            #expect(try await slipway.describeProductTier(serviceId: service, id: tier).preferredVersion == "2.0")

            let registered = try await slipway.registerInstance(
                serviceId: service, environmentId: environment, RegisterInstanceRequest(productTierId: tier, name: "db-1", tierVersion: "1.0"))
            let plan = try await slipway.planRollout(serviceId: service, id: ids[0])
            #expect(plan.eligible.map(\.instanceId) == [registered.id])
            #expect(try await slipway.listInstances(serviceId: service, environmentId: environment, status: "UNKNOWN").instances.count == 1)

            try await slipway.deleteInstance(serviceId: service, environmentId: environment, id: registered.id)
            try await slipway.deleteProductTier(serviceId: service, id: tier)
            for id in ids { try await slipway.deleteImageConfig(serviceId: service, id: id) }
            try await slipway.deleteImageRegistry(id: registry)
            try await slipway.deleteEnvironment(serviceId: service, id: environment)
            try await slipway.deleteService(id: service)
            var remaining: [ServiceResult] = []
            for try await item in slipway.allServices() { remaining.append(item) }
            #expect(remaining.isEmpty)
        }
    }

    @Test func errorsCarryTheGoaFields() async throws {
        try await withServer { api in
            let slipway = SlipwayClient(serverURL: api.serverURL, credentials: .password(email: adminEmail, password: adminPassword))
            let missing = await #expect(throws: SlipwayClientError.self) { try await slipway.describeService(id: "s-nope") }
            #expect(missing?.kind == .api)
            #expect(missing?.status == 404)
            #expect(missing?.name == "not_found")
            #expect(missing?.message == "service s-nope not found")
            #expect(missing?.id?.isEmpty == false)
            #expect(missing?.fault == false)
            let bad = await #expect(throws: SlipwayClientError.self) { try await slipway.createService(CreateServiceRequest(name: "")) }
            #expect(bad?.status == 400 && bad?.name == "bad_request")
            _ = try await slipway.createService(CreateServiceRequest(name: "twice"))
            let conflict = await #expect(throws: SlipwayClientError.self) { try await slipway.createService(CreateServiceRequest(name: "twice")) }
            #expect(conflict?.status == 409 && conflict?.name == "invalid_state")

            let wrong = SlipwayClient(serverURL: api.serverURL, credentials: .password(email: adminEmail, password: "wrong-password"))
            let refused = await #expect(throws: SlipwayClientError.self) { try await wrong.listServices() }
            #expect(refused?.status == 401 && refused?.name == "auth_failure")

            _ = try await slipway.createUser(CreateUserRequest(email: "v@example.com", password: "viewer-pass", role: "viewer"))
            let viewer = SlipwayClient(serverURL: api.serverURL, credentials: .password(email: "v@example.com", password: "viewer-pass"))
            let forbidden = await #expect(throws: SlipwayClientError.self) { try await viewer.createService(CreateServiceRequest(name: "x")) }
            #expect(forbidden?.status == 403 && forbidden?.name == "forbidden")

            // Nothing listens there: a transport error, after the retries of an idempotent call.
            let port = try freeLoopbackPort()
            let nowhere = SlipwayClient(
                serverURL: "http://127.0.0.1:\(port)", credentials: .token("x"), retry: .init(maxAttempts: 2, initialDelay: .milliseconds(10)))
            let unreachable = await #expect(throws: SlipwayClientError.self) { try await nowhere.listServices() }
            #expect(unreachable?.kind == .transport)
            #expect(unreachable?.isRetryable == true)
        }
    }

    @Test func tokensAreRenewedBeforeTheyExpire() async throws {
        var configuration = try await testConfiguration()
        configuration.tokenLifetime = 61  // renewed once less than 60 s are left
        try await withServer(configuration) { api in
            let slipway = SlipwayClient(serverURL: api.serverURL, credentials: .password(email: adminEmail, password: adminPassword))
            _ = try await slipway.listServices()
            let first = try #require(try await slipway.currentToken())
            try await Task.sleep(for: .seconds(2))
            _ = try await slipway.listServices()
            let second = try #require(try await slipway.currentToken())
            #expect(first != second)
            let expiry = try #require(SlipwayClient.expiry(ofToken: second))
            #expect(expiry.timeIntervalSinceNow > 55)
        }
    }

    @Test func watchingARolloutEndsAtItsTerminalStatus() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 3)
            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh", sleep: 0.2)
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
            defer { agents.forEach { $0.stop() } }
            try await fleet.ship(admin, tag: "2")
            let slipway = SlipwayClient(serverURL: api.serverURL, credentials: .token(admin.token!))
            let started = try await slipway.rolloutFleetImageConfig(
                serviceId: fleet.fixture.serviceId, id: fleet.fixture.imageConfigId, policy: RolloutPolicyRequest(maxConcurrentUpgrades: 1))
            #expect(started.total == 3)
            var seen: [RolloutStatusResult] = []
            for try await status in slipway.watchRollout(serviceId: fleet.fixture.serviceId, id: fleet.fixture.imageConfigId, every: .milliseconds(50)) {
                seen.append(status)
            }
            #expect(seen.last?.status == "COMPLETE")
            #expect(seen.last?.completed == 3)
            #expect(seen.count >= 2, "it reported progress on the way")
            let history = try await slipway.rollouts(serviceId: fleet.fixture.serviceId, id: fleet.fixture.imageConfigId)
            #expect(history.rollouts.map(\.id) == [started.id])
            var entries: [RolloutInstanceResult] = []
            for try await entry in slipway.allRolloutInstances(serviceId: fleet.fixture.serviceId, id: fleet.fixture.imageConfigId) { entries.append(entry) }
            #expect(entries.map(\.wave) == [1, 2, 3])
        }
    }
}
