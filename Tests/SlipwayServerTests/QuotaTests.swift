import Foundation
import SlipwayCore
import SlipwayServer
import SlipwayTestSupport
import SlipwayWire
import Testing

/// Per-organization quotas: past each one a create answers 409 with the quota, and another organization is not
/// affected.
@Suite("Quotas", .timeLimit(.minutes(2)))
struct QuotaTests {
    static func quotaError(_ held: Int, _ noun: String, _ limit: Int, _ name: String) -> String {
        "the organization has \(held) \(noun), its quota is \(limit); delete some first, or ask the operator to raise it (slipwayd --quota \(name)=N)"
    }

    @Test func eachQuotaAnswers409WithItsLimit() async throws {
        var configuration = try await testConfiguration()
        configuration.quotas = try OrganizationQuotas(parsing: "services=2,image-registries=2,image-configs=2,instances=3,live-rollouts=1")
        configuration.allowSignup = true
        try await withServer(configuration) { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 3)
            let fixture = fleet.fixture
            // Services: the fleet's is the first.
            _ = try await admin.create("/2022-09-01-00/service", CreateServiceRequest(name: "second"))
            try await admin.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: "third"))
                .expectError(.conflict, "invalid_state", message: Self.quotaError(2, "services", 2, "services"))
            // Instances.
            try await admin.call(
                .post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fixture.productTierId, name: "node-99"))
                .expectError(.conflict, "invalid_state", message: Self.quotaError(3, "instances", 3, "instances"))
            // A deleted instance makes room for one more, and only one.
            #expect(try await admin.call(.delete, "\(fleet.instancePath)/\(fleet.instances[2].id)").status == .ok)
            #expect(try await admin.call(.post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fixture.productTierId, name: "node-98")).status == .ok)
            try await admin.call(
                .post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fixture.productTierId, name: "node-99"))
                .expectError(.conflict, "invalid_state", message: Self.quotaError(3, "instances", 3, "instances"))
            // Image registries: docker-hub, made with the organization, is the first.
            _ = try await admin.create("/2022-09-01-00/image-registry", CreateImageRegistryRequest(name: "own", host: "127.0.0.1:5998"))
            try await admin.call(.post, "/2022-09-01-00/image-registry", json: CreateImageRegistryRequest(name: "more", host: "127.0.0.1:5999"))
                .expectError(.conflict, "invalid_state", message: Self.quotaError(2, "image registries", 2, "image-registries"))
            // Image configs.
            let path = "/2022-09-01-00/service/\(fixture.serviceId)/image-config"
            let second = try await admin.create(
                path, CreateImageConfigRequest(description: "second", imageName: "acme/second", serviceEnvironmentId: fixture.environmentId))
            try await admin.call(
                .post, path, json: CreateImageConfigRequest(description: "third", imageName: "acme/third", serviceEnvironmentId: fixture.environmentId))
                .expectError(.conflict, "invalid_state", message: Self.quotaError(2, "image configs", 2, "image-configs"))
            // Live rollouts: one runs (no agent answers), a second on another image config waits for the quota.
            try await fleet.ship(admin, tag: "2.0")
            #expect(try await admin.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest()).status == .ok)
            #expect(try await admin.call(.post, "\(path)/\(second)/release").status == .ok)
            #expect(try await admin.call(.patch, "\(path)/\(second)", json: UpdateImageConfigRequest(imageTag: "9")).status == .ok)
            #expect(try await admin.call(.post, "\(path)/\(second)/release").status == .ok)
            try await admin.call(.post, "\(path)/\(second)/rollout", json: RolloutPolicyRequest())
                .expectError(
                    .conflict, "invalid_state",
                    message: Self.quotaError(1, "live rollouts (pending, in progress, paused or rolling back)", 1, "live-rollouts"))
            // A dry run is not a rollout: it is still answered.
            #expect(try await admin.call(.post, "\(path)/\(second)/rollout", json: RolloutPolicyRequest(dryRun: true)).status == .ok)

            // Another organization has quotas of its own.
            let signup = try await api.call(
                .post, "/2022-09-01-00/signup",
                json: SignupRequest(name: "Other", email: "other@example.com", password: "long-enough-password", companyName: "Other"))
            #expect(signup.status == .ok, "\(signup.body)")
            let other = try await api.signIn("other@example.com", "long-enough-password")
            _ = try await other.create("/2022-09-01-00/service", CreateServiceRequest(name: "theirs"))
        }
    }

    @Test func quotasParseAndRefuseWhatTheyCannotRead() throws {
        var quotas = try OrganizationQuotas(parsing: "services=5, instances=7")
        #expect(quotas[.services] == 5)
        #expect(quotas[.instances] == 7)
        #expect(quotas[.liveRollouts] == 500)
        #expect(throws: SlipwayError.badRequest(
            "a quota is NAME=N with NAME one of services, image-configs, instances, image-registries, live-rollouts; got 'users=3'")) {
            _ = try OrganizationQuotas(parsing: "users=3")
        }
        #expect(throws: SlipwayError.badRequest("the quota for services must be a whole number from 1 to 100000000; got '0'")) {
            _ = try OrganizationQuotas(parsing: "services=0")
        }
        quotas[.services] = 1
        #expect(throws: SlipwayError.self) { try quotas.checkRoom(for: .services, held: 1) }
        try quotas.checkRoom(for: .services, held: 0)
    }
}
