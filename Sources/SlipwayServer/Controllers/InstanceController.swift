import Foundation
import Hummingbird
import SlipwayCore
import SlipwayWire

/// Instances: deployed copies of a product tier, each with an agent token.
struct InstanceController {
    let store: any SlipwayStore
    let fleet: any FleetStore
    let clock: SlipwayClock

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        let base = "service/:serviceId/environment/:environmentId/instance"
        api.post(RouterPath(base)) { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(RegisterInstanceRequest.self, from: request)
            try Validate.name(body.name)
            if let version = body.tierVersion { try Validate.name(version, field: "tierVersion") }
            if let labels = body.labels { try Validate.labels(labels) }
            let token = OpaqueToken.new(prefix: "sat")
            let instance = try await fleet.registerInstance(
                organizationId: identity.organizationId, serviceId: try context.path("serviceId"), environmentId: try context.path("environmentId"),
                productTierId: body.productTierId, name: body.name, tierVersion: body.tierVersion, labels: body.labels ?? [:],
                agentTokenHash: token.hash, now: clock.now())
            return try JSONBody.response(RegisterInstanceResult(id: instance.id, agentToken: token.token))
        }
        api.get(RouterPath(base)) { request, context in
            let identity = try context.requireIdentity()
            let status = request.query("status")?.uppercased()
            if let status, !["APPLYING", "SUCCEEDED", "FAILED", "UNKNOWN"].contains(status) {
                throw SlipwayError.badRequest("status must be one of APPLYING, SUCCEEDED, FAILED, UNKNOWN, got '\(status.prefix(utf8Bytes: 40))'")
            }
            let filter = InstanceFilter(productTierId: request.query("productTierId"), tierVersion: request.query("tierVersion"), status: status)
            let page = try await fleet.instances(
                serviceId: try context.path("serviceId"), environmentId: try context.path("environmentId"), organizationId: identity.organizationId,
                filter: filter, page: try request.pageRequest())
            return try JSONBody.response(ListInstancesResult(instances: page.items.map { InstanceResult($0) }, nextPageToken: page.nextPageToken))
        }
        api.get(RouterPath("\(base)/:instanceId")) { _, context in
            let identity = try context.requireIdentity()
            let serviceId = try context.path("serviceId")
            let instance = try await fleet.instance(
                id: try context.path("instanceId"), serviceId: serviceId, environmentId: try context.path("environmentId"),
                organizationId: identity.organizationId)
            let version = try await store.tierVersion(
                instance.currentVersion, productTierId: instance.productTierId, serviceId: serviceId, organizationId: identity.organizationId)
            let history = try await fleet.upgradeHistory(instanceId: instance.id, limit: 50)
            return try JSONBody.response(InstanceResult(instance, images: version.images, history: history))
        }
        api.patch(RouterPath("\(base)/:instanceId")) { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(UpdateInstanceRequest.self, from: request)
            try Validate.labels(body.labels)
            let instance = try await fleet.setInstanceLabels(
                id: try context.path("instanceId"), serviceId: try context.path("serviceId"), environmentId: try context.path("environmentId"),
                organizationId: identity.organizationId, labels: body.labels)
            return try JSONBody.response(InstanceResult(instance))
        }
        api.delete(RouterPath("\(base)/:instanceId")) { _, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            try await fleet.deleteInstance(
                id: try context.path("instanceId"), serviceId: try context.path("serviceId"), environmentId: try context.path("environmentId"),
                organizationId: identity.organizationId, now: clock.now())
            return JSONBody.empty()
        }
    }
}
