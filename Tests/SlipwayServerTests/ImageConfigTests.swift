import Foundation
import SlipwayWire
import Testing

@Suite("Image configs: create, describe, list, update, delete, release")
struct ImageConfigTests {
    @Test func createDescribeUsesDefaults() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let id = try await api.create(
                "/2022-09-01-00/service/\(fixture.serviceId)/image-config",
                CreateImageConfigRequest(description: "cache", imageName: "redis", serviceEnvironmentId: fixture.environmentId))
            #expect(id.hasPrefix("imgc-"))
            let reply = try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(id)")
            #expect(reply.status == .ok)
            let described = try reply.decode(DescribeImageConfigResult.self)
            #expect(described.id == id)
            #expect(described.imageTag == "latest")
            #expect(described.imageName == "redis")
            #expect(described.description == "cache")
            #expect(described.serviceId == fixture.serviceId)
            #expect(described.serviceEnvironmentId == fixture.environmentId)
            #expect(described.imageRegistryId.hasPrefix("ir-"), "the organization's default registry")
            #expect(described.productTierVersion == nil)
        }
    }

    @Test func updateChangesOnlyTheFieldsSent() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let update = try await api.call(
                .patch, fixture.imageConfigPath,
                json: UpdateImageConfigRequest(imageTag: "16.2", customImageCommandsAndArgs: .init(args: ["-c", "fsync=on"], commands: ["postgres"])))
            #expect(update.status == .ok)
            #expect(update.body.isEmpty)
            let described = try await api.call(.get, fixture.imageConfigPath).decode(DescribeImageConfigResult.self)
            #expect(described.imageTag == "16.2")
            #expect(described.imageName == "library/postgres")
            #expect(described.description == "the database")
            #expect(described.customImageCommandsAndArgs == .init(args: ["-c", "fsync=on"], commands: ["postgres"]))
        }
    }

    @Test func listPagesThroughEveryId() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            var created = [fixture.imageConfigId]
            for index in 0..<4 {
                created.append(
                    try await api.create(
                        "/2022-09-01-00/service/\(fixture.serviceId)/image-config",
                        CreateImageConfigRequest(description: "", imageName: "app\(index)", serviceEnvironmentId: fixture.environmentId)))
            }
            let listPath = "/2022-09-01-00/service/\(fixture.serviceId)/serviceenvironment/\(fixture.environmentId)/image-config"
            let all = try await api.call(.get, listPath).decode(ListImageConfigsResult.self)
            #expect(all.ids == created)
            #expect(all.nextPageToken == nil)

            var seen: [String] = []
            var token: String?
            var pages = 0
            repeat {
                let query = "?pageSize=2" + (token.map { "&nextPageToken=\($0)" } ?? "")
                let page = try await api.call(.get, listPath + query).decode(ListImageConfigsResult.self)
                seen += page.ids
                token = page.nextPageToken
                pages += 1
            } while token != nil && pages < 10
            #expect(seen == created)
            #expect(pages == 3)

            try await api.call(.get, listPath + "?pageSize=0").expectError(
                .badRequest, "bad_request", message: "pageSize must be an integer from 1 to 1000, got '0'")
            try await api.call(.get, listPath + "?pageSize=abc").expectError(
                .badRequest, "bad_request", message: "pageSize must be an integer from 1 to 1000, got 'abc'")
            try await api.call(.get, listPath + "?nextPageToken=garbage").expectError(
                .badRequest, "bad_request", message: "nextPageToken is not valid: pass the nextPageToken of the previous response unchanged")
            try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/serviceenvironment/se-missing/image-config").expectError(
                .notFound, "not_found", message: "service environment se-missing not found")
        }
    }

    @Test func releaseCutsVersionsAndDescribeShowsTheSnapshot() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let release = try await api.call(.post, fixture.imageConfigPath + "/release", body: "{}\n")
            #expect(release.status == .ok)
            #expect(release.body.isEmpty)

            // Nothing changed since: 409.
            try await api.call(.post, fixture.imageConfigPath + "/release", body: "{}").expectError(
                .conflict, "invalid_state", containing: "nothing changed since the last release")

            _ = try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "17.0"))
            // An update that changes nothing does not count as a change.
            _ = try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "17.0"))
            let second = try await api.call(.post, fixture.imageConfigPath + "/release", json: ReleaseImageConfigRequest(productTierId: fixture.productTierId))
            #expect(second.status == .ok)

            let v1 = try await api.call(
                .get, fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)&ProductTierVersion=1.0"
            ).decode(DescribeImageConfigResult.self)
            #expect(v1.imageTag == "16.0")
            #expect(v1.productTierVersion == "1.0")
            #expect(v1.productTierId == fixture.productTierId)
            let v2 = try await api.call(
                .get, fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)&ProductTierVersion=2.0"
            ).decode(DescribeImageConfigResult.self)
            #expect(v2.imageTag == "17.0")
            // A tier without a version: its preferred version.
            let preferred = try await api.call(.get, fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)").decode(
                DescribeImageConfigResult.self)
            #expect(preferred.productTierVersion == "2.0")
            // Empty values count as absent, as the Go SDK may send them.
            let working = try await api.call(.get, fixture.imageConfigPath + "?ProductTierVersion=&ProductTierId=").decode(DescribeImageConfigResult.self)
            #expect(working.productTierVersion == nil)

            let sets = try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/productTier/\(fixture.productTierId)/version-set")
                .decode(ListTierVersionSetsResult.self)
            #expect(sets.tierVersionSets.map(\.version) == ["1.0", "2.0"])
            #expect(sets.tierVersionSets.map(\.status) == ["Active", "Preferred"])
            #expect(sets.tierVersionSets.allSatisfy { $0.releasedBy == adminEmail })
            #expect(sets.tierVersionSets[1].imageConfigs.map(\.imageTag) == ["17.0"])
            #expect(sets.tierVersionSets[1].imageConfigs.first?.imageRegistryHost == "docker.io")

            let one = try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/productTier/\(fixture.productTierId)/version-set/1.0")
                .decode(TierVersionSetResult.self)
            #expect(one.status == "Active")

            let tier = try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/product-tier/\(fixture.productTierId)")
                .decode(ProductTierResult.self)
            #expect(tier.preferredVersion == "2.0")
        }
    }

    @Test func releasePinsTheOtherImageConfigsAsLastReleased() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let sidecar = try await api.create(
                "/2022-09-01-00/service/\(fixture.serviceId)/image-config",
                CreateImageConfigRequest(description: "metrics", imageName: "prom/exporter", serviceEnvironmentId: fixture.environmentId, imageTag: "1"))
            let sidecarPath = "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(sidecar)"
            #expect(try await api.call(.post, fixture.imageConfigPath + "/release").status == .ok)
            #expect(try await api.call(.post, sidecarPath + "/release").status == .ok)
            // The sidecar's working copy moves on but is not released: version 3.0 pins its released tag.
            _ = try await api.call(.patch, sidecarPath, json: UpdateImageConfigRequest(imageTag: "2"))
            _ = try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "16.9"))
            #expect(try await api.call(.post, fixture.imageConfigPath + "/release").status == .ok)
            let v3 = try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/productTier/\(fixture.productTierId)/version-set/3.0")
                .decode(TierVersionSetResult.self)
            let tags = Dictionary(uniqueKeysWithValues: v3.imageConfigs.map { ($0.imageConfigId, $0.imageTag) })
            #expect(tags == [fixture.imageConfigId: "16.9", sidecar: "1"])
        }
    }

    @Test func releaseErrors() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            // A tier of another environment.
            let staging = try await api.create(
                "/2022-09-01-00/service/\(fixture.serviceId)/environment", CreateServiceEnvironmentRequest(name: "staging", type: "staging"))
            let stagingTier = try await api.create(
                "/2022-09-01-00/service/\(fixture.serviceId)/product-tier", CreateProductTierRequest(name: "basic", serviceEnvironmentId: staging))
            try await api.call(.post, fixture.imageConfigPath + "/release", json: ReleaseImageConfigRequest(productTierId: stagingTier)).expectError(
                .badRequest, "bad_request", containing: "pick a product tier of the same environment")
            try await api.call(.post, fixture.imageConfigPath + "/release", json: ReleaseImageConfigRequest(productTierId: "pt-nope")).expectError(
                .notFound, "not_found", message: "product tier pt-nope not found")
            // An environment without tiers.
            let lonely = try await api.create(
                "/2022-09-01-00/service/\(fixture.serviceId)/image-config",
                CreateImageConfigRequest(description: "", imageName: "busybox", serviceEnvironmentId: staging))
            _ = try await api.call(.delete, "/2022-09-01-00/service/\(fixture.serviceId)/product-tier/\(stagingTier)")
            try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(lonely)/release").expectError(
                .conflict, "invalid_state", containing: "has no product tier to release into")
            // A version without a tier is a version of the environment's one tier.
            try await api.call(.get, fixture.imageConfigPath + "?ProductTierVersion=1.0").expectError(
                .notFound, "not_found", message: "product tier \(fixture.productTierId) has no version '1.0'")
            try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(lonely)?ProductTierVersion=1.0").expectError(
                .notFound, "not_found", message: "service environment \(staging) has no product tier; release the image config into one first")
            try await api.call(.get, fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)&ProductTierVersion=9.0").expectError(
                .notFound, "not_found", message: "product tier \(fixture.productTierId) has no version '9.0'")
            try await api.call(.get, fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)").expectError(
                .notFound, "not_found", containing: "has no released version yet")
            try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/image-config/imgc-nope/release").expectError(
                .notFound, "not_found", message: "image config imgc-nope not found")
            // A released version pins only the image configs released so far.
            #expect(try await api.call(.post, fixture.imageConfigPath + "/release").status == .ok)
            let byVersion = try await api.call(.get, fixture.imageConfigPath + "?ProductTierVersion=1.0").decode(DescribeImageConfigResult.self)
            #expect(byVersion.productTierId == fixture.productTierId && byVersion.productTierVersion == "1.0")
            let unreleased = try await api.create(
                "/2022-09-01-00/service/\(fixture.serviceId)/image-config",
                CreateImageConfigRequest(description: "", imageName: "redis", serviceEnvironmentId: fixture.environmentId))
            try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(unreleased)?ProductTierId=\(fixture.productTierId)")
                .expectError(
                    .notFound, "not_found",
                    message: "version 1.0 of product tier \(fixture.productTierId) does not include image config \(unreleased)")
            // With a second tier in the environment, a version alone no longer says which.
            _ = try await api.create(
                "/2022-09-01-00/service/\(fixture.serviceId)/product-tier", CreateProductTierRequest(name: "premium", serviceEnvironmentId: fixture.environmentId))
            try await api.call(.get, fixture.imageConfigPath + "?ProductTierVersion=1.0").expectError(
                .conflict, "invalid_state",
                message: "service environment \(fixture.environmentId) has 2 product tiers: pass ProductTierId with ProductTierVersion to say which")
            // The organization's default registry stays.
            let registries = try await api.call(.get, "/2022-09-01-00/image-registry").decode(ListImageRegistriesResult.self).imageRegistries
            let defaultRegistry = try #require(registries.first { $0.isDefault })
            try await api.call(.delete, "/2022-09-01-00/image-registry/\(defaultRegistry.id)").expectError(
                .conflict, "invalid_state", message: "image registry \(defaultRegistry.id) is the organization's default registry and cannot be deleted")
        }
    }

    /// Describe and List answers are kept between writes: every kind of write must show at once, and
    /// a kept answer must never reach another organization.
    @Test func keptAnswersNeverOutliveAWriteNorCrossOrganizations() async throws {
        var configuration = try await testConfiguration()
        configuration.allowSignup = true
        try await withServer(configuration) { api in
            let owner = try await api.signIn()
            let fixture = try await Fixture.make(owner)
            let listPath = "/2022-09-01-00/service/\(fixture.serviceId)/serviceenvironment/\(fixture.environmentId)/image-config"
            let preferredPath = fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)"
            func describe(_ path: String) async throws -> DescribeImageConfigResult {
                try await owner.call(.get, path).decode(DescribeImageConfigResult.self)
            }
            for _ in 0..<2 { #expect(try await describe(fixture.imageConfigPath).imageTag == "16.0") }
            try await owner.call(.get, preferredPath).expectError(.notFound, "not_found", containing: "has no released version yet")

            _ = try await owner.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "16.1"))
            #expect(try await describe(fixture.imageConfigPath).imageTag == "16.1")

            #expect(try await owner.call(.post, fixture.imageConfigPath + "/release").status == .ok)
            #expect(try await describe(preferredPath).productTierVersion == "1.0")
            _ = try await owner.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "16.2"))
            #expect(try await owner.call(.post, fixture.imageConfigPath + "/release").status == .ok)
            #expect(try await describe(preferredPath).productTierVersion == "2.0")

            #expect(try await owner.call(.get, listPath).decode(ListImageConfigsResult.self).ids == [fixture.imageConfigId])
            let second = try await owner.create(
                "/2022-09-01-00/service/\(fixture.serviceId)/image-config",
                CreateImageConfigRequest(description: "", imageName: "redis", serviceEnvironmentId: fixture.environmentId))
            #expect(try await owner.call(.get, listPath).decode(ListImageConfigsResult.self).ids == [fixture.imageConfigId, second])

            _ = try await api.call(
                .post, "/2022-09-01-00/signup", json: SignupRequest(name: "Mallory", email: "mallory@evil.test", password: "mallory-pass", companyName: "Evil"))
            let mallory = try await api.signIn("mallory@evil.test", "mallory-pass")
            #expect(try await describe(fixture.imageConfigPath).imageTag == "16.2")
            try await mallory.call(.get, fixture.imageConfigPath).expectError(
                .notFound, "not_found", containing: "image config \(fixture.imageConfigId) not found")
            try await mallory.call(.get, listPath).expectError(.notFound, "not_found", containing: "service \(fixture.serviceId) not found")

            #expect(try await describe("/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(second)").imageName == "redis")
            #expect(try await owner.call(.delete, "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(second)").status == .ok)
            #expect(try await owner.call(.get, listPath).decode(ListImageConfigsResult.self).ids == [fixture.imageConfigId])
            try await owner.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(second)").expectError(
                .notFound, "not_found", containing: "image config \(second) not found")
        }
    }

    @Test func deleteRules() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let service = "/2022-09-01-00/service/\(fixture.serviceId)"
            let redis = try await api.create(
                service + "/image-config",
                CreateImageConfigRequest(description: "cache", imageName: "library/redis", serviceEnvironmentId: fixture.environmentId, imageTag: "7"))
            #expect(try await api.call(.post, fixture.imageConfigPath + "/release").status == .ok)
            #expect(try await api.call(.post, service + "/image-config/\(redis)/release").status == .ok)
            try await api.call(.delete, service).expectError(.conflict, "invalid_state", containing: "still has 1 service environment(s)")
            try await api.call(.delete, service + "/environment/\(fixture.environmentId)").expectError(
                .conflict, "invalid_state", containing: "is still used by 1 product tier(s) and 2 image config(s)")
            // Released versions are history, not locks: the working copy goes, the snapshots stay.
            let deleted = try await api.call(.delete, fixture.imageConfigPath, headers: [.accept: "application/vnd.goa.error"])
            #expect(deleted.status == .ok)
            #expect(deleted.body.isEmpty)
            try await api.call(.get, fixture.imageConfigPath).expectError(.notFound, "not_found", message: "image config \(fixture.imageConfigId) not found")
            let pinned = try await api.call(.get, fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)&ProductTierVersion=2.0")
                .decode(DescribeImageConfigResult.self)
            #expect(pinned.imageName == "library/postgres" && pinned.imageTag == "16.0" && pinned.productTierVersion == "2.0")
            #expect(pinned.serviceEnvironmentId == fixture.environmentId && pinned.imageDigest == nil)
            try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "17.0")).expectError(
                .notFound, "not_found", message: "image config \(fixture.imageConfigId) not found")
            try await api.call(.post, fixture.imageConfigPath + "/release").expectError(
                .notFound, "not_found", message: "image config \(fixture.imageConfigId) not found")
            // The next release leaves the deleted image config out.
            #expect(try await api.call(.patch, service + "/image-config/\(redis)", json: UpdateImageConfigRequest(imageTag: "7.2")).status == .ok)
            #expect(try await api.call(.post, service + "/image-config/\(redis)/release").status == .ok)
            let third = try await api.call(.get, service + "/productTier/\(fixture.productTierId)/version-set/3.0").decode(TierVersionSetResult.self)
            #expect(third.imageConfigs.map(\.imageConfigId) == [redis])
            try await api.call(.get, fixture.imageConfigPath + "?ProductTierId=\(fixture.productTierId)&ProductTierVersion=3.0").expectError(
                .notFound, "not_found", message: "image config \(fixture.imageConfigId) not found")
            #expect(try await api.call(.delete, service + "/image-config/\(redis)").status == .ok)
            #expect(try await api.call(.delete, service + "/product-tier/\(fixture.productTierId)").status == .ok)
            try await api.call(.delete, fixture.imageConfigPath).expectError(.notFound, "not_found")
            #expect(try await api.call(.delete, service + "/environment/\(fixture.environmentId)").status == .ok)
            #expect(try await api.call(.delete, service).status == .ok)
            try await api.call(.get, service).expectError(.notFound, "not_found", message: "service \(fixture.serviceId) not found")
        }
    }
}
