import Foundation
import Hummingbird
import SlipwayWire
import Testing

@Suite("Tenants: another organization's things answer 404, exactly as if they did not exist")
struct TenantIsolationTests {
    @Test func secondOrganizationCanNeitherSeeNorChangeTheFirst() async throws {
        var configuration = try await testConfiguration()
        configuration.allowSignup = true
        try await withServer(configuration) { api in
            let owner = try await api.signIn()
            let fixture = try await Fixture.make(owner)
            #expect(try await owner.call(.post, fixture.imageConfigPath + "/release").status == .ok)
            let registry = try await owner.create("/2022-09-01-00/image-registry", CreateImageRegistryRequest(name: "ghcr", host: "ghcr.io"))

            _ = try await api.call(
                .post, "/2022-09-01-00/signup", json: SignupRequest(name: "Mallory", email: "mallory@evil.test", password: "mallory-pass", companyName: "Evil"))
            let mallory = try await api.signIn("mallory@evil.test", "mallory-pass")
            let own = try await Fixture.make(mallory)

            let s = "/2022-09-01-00/service/\(fixture.serviceId)"
            var cases: [Probe] = []
            cases.append(Probe(.get, s, nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.delete, s, nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, "\(s)/environment", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.post, "\(s)/environment", "{\"name\":\"x\"}", "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, "\(s)/environment/\(fixture.environmentId)", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.delete, "\(s)/environment/\(fixture.environmentId)", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, "\(s)/product-tier", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, "\(s)/product-tier/\(fixture.productTierId)", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.delete, "\(s)/product-tier/\(fixture.productTierId)", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, fixture.imageConfigPath, nil, "image config \(fixture.imageConfigId) not found"))
            cases.append(Probe(.get, "\(fixture.imageConfigPath)?ProductTierId=\(fixture.productTierId)&ProductTierVersion=1.0", nil, "image config \(fixture.imageConfigId) not found"))
            cases.append(Probe(.patch, "\(fixture.imageConfigPath)", "{\"imageTag\":\"evil\"}", "image config \(fixture.imageConfigId) not found"))
            cases.append(Probe(.delete, "\(fixture.imageConfigPath)", nil, "image config \(fixture.imageConfigId) not found"))
            cases.append(Probe(.post, "\(fixture.imageConfigPath)/release", "{}", "image config \(fixture.imageConfigId) not found"))
            cases.append(Probe(.post, "\(s)/image-config", "{\"description\":\"\",\"imageName\":\"x\",\"serviceEnvironmentId\":\"\(fixture.environmentId)\"}", "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, "\(s)/serviceenvironment/\(fixture.environmentId)/image-config", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, "\(s)/productTier/\(fixture.productTierId)/version-set", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, "\(s)/productTier/\(fixture.productTierId)/version-set/1.0", nil, "service \(fixture.serviceId) not found"))
            cases.append(Probe(.get, "/2022-09-01-00/image-registry/\(registry)", nil, "image registry \(registry) not found"))
            cases.append(Probe(.delete, "/2022-09-01-00/image-registry/\(registry)", nil, "image registry \(registry) not found"))
            cases.append(Probe(.post, "/2022-09-01-00/service/\(own.serviceId)/image-config", "{\"description\":\"\",\"imageName\":\"x\",\"serviceEnvironmentId\":\"\(fixture.environmentId)\"}", "service environment \(fixture.environmentId) not found"))
            cases.append(Probe(.post, "/2022-09-01-00/service/\(own.serviceId)/image-config", "{\"description\":\"\",\"imageName\":\"x\",\"serviceEnvironmentId\":\"\(own.environmentId)\",\"imageRegistryId\":\"\(registry)\"}", "image registry \(registry) not found"))
            cases.append(Probe(.patch, "\(own.imageConfigPath)", "{\"imageRegistryId\":\"\(registry)\"}", "image registry \(registry) not found"))
            cases.append(Probe(.post, "\(own.imageConfigPath)/release", "{\"productTierId\":\"\(fixture.productTierId)\"}", "product tier \(fixture.productTierId) not found"))
            cases.append(Probe(.post, "/2022-09-01-00/service/\(own.serviceId)/product-tier", "{\"name\":\"x\",\"serviceEnvironmentId\":\"\(fixture.environmentId)\"}", "service environment \(fixture.environmentId) not found"))
            for probe in cases {
                let reply = try await mallory.call(probe.method, probe.path, body: probe.body)
                reply.expectError(.notFound, "not_found", message: probe.message)
            }
            // Her lists hold only her own things.
            let services = try await mallory.call(.get, "/2022-09-01-00/service").decode(ListServicesResult.self)
            #expect(services.services.map(\.id) == [own.serviceId])
            let registries = try await mallory.call(.get, "/2022-09-01-00/image-registry").decode(ListImageRegistriesResult.self)
            #expect(!registries.imageRegistries.map(\.id).contains(registry))
            let users = try await mallory.call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self)
            #expect(users.users.map(\.email) == ["mallory@evil.test"])

            // And nothing of the first organization changed.
            let described = try await owner.call(.get, fixture.imageConfigPath).decode(DescribeImageConfigResult.self)
            #expect(described.imageTag == "16.0")
        }
    }
}

/// One request of another organization's user, and the 404 message it must get.
struct Probe {
    var method: HTTPRequest.Method
    var path: String
    var body: String?
    var message: String

    init(_ method: HTTPRequest.Method, _ path: String, _ body: String?, _ message: String) {
        self.method = method
        self.path = path
        self.body = body
        self.message = message
    }
}
