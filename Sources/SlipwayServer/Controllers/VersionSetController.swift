import Foundation
import Hummingbird
import SlipwayCore
import SlipwayWire

/// Tier versions (version sets) of a product tier, with the snapshots they pin.
struct VersionSetController {
    let store: any SlipwayStore

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        api.get("service/:serviceId/productTier/:productTierId/version-set") { request, context in
            let identity = try context.requireIdentity()
            let page = try await store.tierVersions(
                productTierId: try context.path("productTierId"), serviceId: try context.path("serviceId"),
                organizationId: identity.organizationId, page: try request.pageRequest())
            return try JSONBody.response(
                ListTierVersionSetsResult(tierVersionSets: page.items.map(TierVersionSetResult.init), nextPageToken: page.nextPageToken))
        }
        api.get("service/:serviceId/productTier/:productTierId/version-set/:version") { _, context in
            let identity = try context.requireIdentity()
            let version = try await store.tierVersion(
                try context.path("version"), productTierId: try context.path("productTierId"), serviceId: try context.path("serviceId"),
                organizationId: identity.organizationId)
            return try JSONBody.response(TierVersionSetResult(version))
        }
        api.patch("service/:serviceId/productTier/:productTierId/version-set/:version") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(UpdateTierVersionSetRequest.self, from: request)
            try Validate.text(body.releaseNotes, field: "releaseNotes", limit: Validate.Limit.releaseNotes)
            let version = try await store.setReleaseNotes(
                body.releaseNotes.isEmpty ? nil : body.releaseNotes, version: try context.path("version"),
                productTierId: try context.path("productTierId"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
            return try JSONBody.response(TierVersionSetResult(version))
        }
        for (verb, status) in [("promote", TierVersionStatus.preferred), ("deprecate", .deprecated)] {
            api.post(RouterPath("service/:serviceId/productTier/:productTierId/version-set/:version/\(verb)")) { _, context in
                let identity = try context.requireIdentity()
                try identity.requireWrite()
                let version = try await store.changeTierVersion(
                    try context.path("version"), to: status, productTierId: try context.path("productTierId"), serviceId: try context.path("serviceId"),
                    organizationId: identity.organizationId)
                return try JSONBody.response(TierVersionSetResult(version))
            }
        }
        api.get("service/:serviceId/productTier/:productTierId/version-set/:version/diff/:other") { _, context in
            let identity = try context.requireIdentity()
            let (serviceId, productTierId) = (try context.path("serviceId"), try context.path("productTierId"))
            let from = try await store.tierVersion(
                try context.path("version"), productTierId: productTierId, serviceId: serviceId, organizationId: identity.organizationId)
            let to = try await store.tierVersion(
                try context.path("other"), productTierId: productTierId, serviceId: serviceId, organizationId: identity.organizationId)
            let changes = VersionLifecycle.diff(from: from, to: to).map { change in
                ImageConfigDiffResult(
                    imageConfigId: change.imageConfigId, change: change.kind.rawValue,
                    fields: change.fields.map { FieldChangeResult(field: $0.field, before: $0.before, after: $0.after) })
            }
            return try JSONBody.response(TierVersionDiffResult(productTierId: productTierId, from: from.version, to: to.version, imageConfigs: changes))
        }
    }
}
