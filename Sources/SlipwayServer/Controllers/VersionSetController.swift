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
    }
}
