import Foundation
import Hummingbird
import SlipwayCore
import SlipwayWire

/// The upstream Image Config API: create, describe, list, update, delete, release.
struct ImageConfigController {
    let store: any SlipwayStore
    let clock: SlipwayClock
    /// Resolves and verifies what a release pins.
    let checks: ImageChecks
    /// Describe and List answers, kept until the next catalog write.
    let answers: CatalogResponseCache

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        api.post("service/:serviceId/image-config") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(CreateImageConfigRequest.self, from: request)
            let change = ImageSpecChange(
                description: body.description, imageName: body.imageName, imageTag: body.imageTag,
                imageRegistryId: body.imageRegistryId, publicKeyPEM: body.imageSignaturePublicKeyPEM,
                commands: body.customImageCommandsAndArgs?.commands, args: body.customImageCommandsAndArgs?.args)
            try change.validate()
            let now = clock.now()
            let config = ImageConfig(
                id: Identifiers.new(.imageConfig), serviceId: try context.path("serviceId"), serviceEnvironmentId: body.serviceEnvironmentId,
                spec: ImageSpec.createBase.applying(change), revision: 1, createdAt: now, updatedAt: now)
            try await store.createImageConfig(config, organizationId: identity.organizationId)
            return try JSONBody.response(config.id)
        }

        api.get("service/:serviceId/image-config/:id") { request, context in
            let identity = try context.requireIdentity()
            let serviceId = try context.path("serviceId"), id = try context.path("id")
            let tierId = request.query("ProductTierId"), versionName = request.query("ProductTierVersion")
            // The same decoded values key the kept answer and produce it.
            return try await answers.response(organizationId: identity.organizationId, inputs: ["describe", serviceId, id, tierId, versionName]) {
                try await describe(
                    serviceId: serviceId, id: id, tierId: tierId, versionName: versionName, organizationId: identity.organizationId)
            }
        }

        api.get("service/:serviceId/serviceenvironment/:serviceEnvironmentId/image-config") { request, context in
            let identity = try context.requireIdentity()
            let serviceId = try context.path("serviceId"), environmentId = try context.path("serviceEnvironmentId")
            let page = try request.pageRequest(defaultSize: 1000)
            let inputs = ["list", serviceId, environmentId, String(page.size), page.after.map { String($0) }]
            return try await answers.response(organizationId: identity.organizationId, inputs: inputs) {
                let page = try await store.imageConfigIDs(
                    serviceId: serviceId, environmentId: environmentId, organizationId: identity.organizationId, page: page)
                return ListImageConfigsResult(ids: page.items, nextPageToken: page.nextPageToken)
            }
        }

        api.patch("service/:serviceId/image-config/:id") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(UpdateImageConfigRequest.self, from: request)
            let change = ImageSpecChange(
                description: body.description, imageName: body.imageName, imageTag: body.imageTag,
                imageRegistryId: body.imageRegistryId.flatMap { $0.isEmpty ? nil : $0 }, publicKeyPEM: body.imageSignaturePublicKeyPEM,
                commands: body.customImageCommandsAndArgs?.commands, args: body.customImageCommandsAndArgs?.args)
            try change.validate()
            if let trail = AuditTrail.current {
                let before = try await store.imageConfig(id: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
                ImageSpecChange.audit(from: before.spec, to: before.spec.applying(change), in: trail)
            }
            _ = try await store.updateImageConfig(
                id: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId, change: change,
                now: clock.now())
            return JSONBody.empty()
        }

        api.delete("service/:serviceId/image-config/:id") { _, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            try await store.deleteImageConfig(id: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
            return JSONBody.empty()
        }

        api.post("service/:serviceId/image-config/:id/release") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(ReleaseImageConfigRequest.self, from: request, emptyAsObject: true)
            if let notes = body.releaseNotes { try Validate.text(notes, field: "releaseNotes", limit: Validate.Limit.releaseNotes) }
            let serviceId = try context.path("serviceId")
            let config = try await store.imageConfig(id: try context.path("id"), serviceId: serviceId, organizationId: identity.organizationId)
            let registry = try await store.imageRegistry(id: config.spec.imageRegistryId, organizationId: identity.organizationId)
            // The registry is asked outside the transaction; the store refuses if the config changed meanwhile.
            let checked = try await checks.check(config, in: registry)
            _ = try await store.release(
                imageConfigId: config.id, serviceId: serviceId, organizationId: identity.organizationId,
                productTierId: body.productTierId.flatMap { $0.isEmpty ? nil : $0 }, checked: checked, releasedBy: identity.email,
                releaseNotes: body.releaseNotes.flatMap { $0.isEmpty ? nil : $0 }, now: clock.now())
            return JSONBody.empty()
        }
    }

    /// Describe: the image config as it is now, or as a released tier version pinned it (which still answers
    /// once the working copy is deleted).
    /// The product tier a `ProductTierVersion` without `ProductTierId` means: the one product tier of the image
    /// config's environment (409 when it has several, 404 when none).
    private func onlyProductTier(of config: ImageConfig, organizationId: String) async throws -> String {
        var tiers: [String] = []
        var page = PageRequest(size: 1000)
        repeat {
            let found = try await store.productTiers(serviceId: config.serviceId, organizationId: organizationId, page: page)
            tiers += found.items.filter { $0.serviceEnvironmentId == config.serviceEnvironmentId }.map(\.id)
            page.after = found.nextCursor
        } while page.after != nil
        switch tiers.count {
        case 1: return tiers[0]
        case 0: throw SlipwayError.notFound("service environment \(config.serviceEnvironmentId) has no product tier; release the image config into one first")
        default:
            throw SlipwayError.invalidState(
                "service environment \(config.serviceEnvironmentId) has \(tiers.count) product tiers: pass ProductTierId with ProductTierVersion to say which")
        }
    }

    private func describe(
        serviceId: String, id: String, tierId: String?, versionName: String?, organizationId: String
    ) async throws -> DescribeImageConfigResult {
        guard let tierId else {
            let config = try await store.imageConfig(id: id, serviceId: serviceId, organizationId: organizationId)
            guard versionName != nil else { return DescribeImageConfigResult(config) }
            let tierId = try await onlyProductTier(of: config, organizationId: organizationId)
            return try await describe(serviceId: serviceId, id: id, tierId: tierId, versionName: versionName, organizationId: organizationId)
        }
        // A deleted image config's released snapshots still answer; anything else missing answers as before:
        // the image config not found.
        let workingCopyGone: SlipwayError?
        do {
            _ = try await store.imageConfig(id: id, serviceId: serviceId, organizationId: organizationId)
            workingCopyGone = nil
        } catch let error as SlipwayError where error.kind == .notFound {
            workingCopyGone = error
        }
        do {
            let tier = try await store.productTier(id: tierId, serviceId: serviceId, organizationId: organizationId)
            guard let name = versionName ?? tier.preferredVersion else {
                throw SlipwayError.notFound("product tier \(tierId) has no released version yet; release the image config first")
            }
            let version = try await store.tierVersion(name, productTierId: tierId, serviceId: serviceId, organizationId: organizationId)
            guard let snapshot = version.images.first(where: { $0.imageConfigId == id }) else {
                throw SlipwayError.notFound("version \(version.version) of product tier \(tierId) does not include image config \(id)")
            }
            return DescribeImageConfigResult(snapshot: snapshot, in: version, serviceEnvironmentId: tier.serviceEnvironmentId)
        } catch let error as SlipwayError where error.kind == .notFound {
            throw workingCopyGone ?? error
        }
    }
}
