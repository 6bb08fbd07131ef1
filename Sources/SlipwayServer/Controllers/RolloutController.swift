import Foundation
import Hummingbird
import SlipwayCore
import SlipwayEngine
import SlipwayWire

/// Rollouts of an image config to the fleet: the upstream start and status, and Slipway's controls.
struct RolloutController {
    let fleet: any FleetStore
    let engine: RolloutEngine
    let clock: SlipwayClock
    /// `--webhook-allow-private`: an analysis may reach loopback, private and link-local addresses.
    var analysisAllowPrivate = false

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        let base = "service/:serviceId/image-config/:id"
        api.post(RouterPath("\(base)/rollout")) { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(RolloutPolicyRequest.self, from: request, emptyAsObject: true)
            let policy = try RolloutPolicy(body, now: clock.now())
            if let analysis = policy.analysis, let url = analysis.url ?? analysis.prometheusUrl {
                try WebhookAddress.check(url: url, allowPrivate: analysisAllowPrivate, field: "analysis")
            }
            let dryRun = body.dryRun ?? false
            let (plan, rollout) = try await fleet.createRollout(
                imageConfigId: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId,
                policy: policy, createdBy: identity.email, dryRun: dryRun, clock: clock)
            guard let rollout else { return try JSONBody.response(RolloutPlanResult(plan)) }
            engine.wake()
            return try JSONBody.response(RolloutStatusResult(rollout))
        }
        api.get(RouterPath("\(base)/rollout")) { request, context in
            let identity = try context.requireIdentity()
            let rollout = try await fleet.latestRollout(
                imageConfigId: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
            return try JSONBody.conditionalResponse(RolloutStatusResult(rollout), to: request)
        }
        api.get(RouterPath("\(base)/rollouts")) { request, context in
            let identity = try context.requireIdentity()
            let page = try await fleet.rollouts(
                imageConfigId: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId,
                page: try request.pageRequest())
            return try JSONBody.response(ListRolloutsResult(rollouts: page.items.map(RolloutStatusResult.init), nextPageToken: page.nextPageToken))
        }
        api.get(RouterPath("\(base)/rollout/instances")) { request, context in
            let identity = try context.requireIdentity()
            let rollout = try await fleet.latestRollout(
                imageConfigId: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
            var status: RolloutInstanceStatus?
            if let asked = request.query("status") {
                guard let known = RolloutInstanceStatus(rawValue: asked.uppercased()) else {
                    let names = RolloutInstanceStatus.allCases.map(\.rawValue).joined(separator: ", ")
                    throw SlipwayError.badRequest("status must be one of \(names), got '\(asked.prefix(utf8Bytes: 40))'")
                }
                status = known
            }
            let page = try await fleet.rolloutInstances(rolloutId: rollout.id, status: status, page: try request.pageRequest())
            return try JSONBody.response(
                ListRolloutInstancesResult(instances: page.items.map(RolloutInstanceResult.init), nextPageToken: page.nextPageToken))
        }
        control("pause") { try await fleet.pauseRollout(imageConfigId: $0, serviceId: $1, organizationId: $2, now: clock.now()) }
        control("resume") { try await fleet.resumeRollout(imageConfigId: $0, serviceId: $1, organizationId: $2, now: clock.now()) }
        control("cancel") { try await fleet.cancelRollout(imageConfigId: $0, serviceId: $1, organizationId: $2, now: clock.now()) }
        control("retry") { try await fleet.retryRollout(imageConfigId: $0, serviceId: $1, organizationId: $2, now: clock.now()) }
        control("promote") { try await fleet.promoteRollout(imageConfigId: $0, serviceId: $1, organizationId: $2, now: clock.now()) }
        api.post(RouterPath("\(base)/rollout/target-version")) { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(RetargetRolloutRequest.self, from: request)
            try Validate.name(body.version, field: "version")
            let rollout = try await fleet.retargetRollout(
                imageConfigId: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId,
                version: body.version, now: clock.now())
            return try JSONBody.response(RolloutStatusResult(rollout))
        }
        api.post(RouterPath("\(base)/rollout/skip")) { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(SkipRolloutInstancesRequest.self, from: request)
            guard !body.instanceIds.isEmpty else { throw SlipwayError.badRequest("instanceIds must name at least one instance") }
            guard body.instanceIds.count <= RolloutSelector.maxInstanceIds else {
                throw SlipwayError.badRequest("instanceIds must list at most \(RolloutSelector.maxInstanceIds) instances, got \(body.instanceIds.count)")
            }
            for id in body.instanceIds { try Validate.identifier(id, field: "instanceIds", kind: .instance) }
            let rollout = try await fleet.skipRolloutInstances(
                imageConfigId: try context.path("id"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId,
                instanceIds: body.instanceIds, now: clock.now())
            engine.wake()
            return try JSONBody.response(RolloutStatusResult(rollout))
        }

        /// `POST …/rollout/{verb}`: changes the latest rollout, then lets the engine act on it.
        func control(_ verb: String, _ change: @escaping @Sendable (String, String, String) async throws -> Rollout) {
            api.post(RouterPath("\(base)/rollout/\(verb)")) { _, context in
                let identity = try context.requireIdentity()
                try identity.requireWrite()
                let rollout = try await change(try context.path("id"), try context.path("serviceId"), identity.organizationId)
                engine.wake()
                return try JSONBody.response(RolloutStatusResult(rollout))
            }
        }
    }
}
