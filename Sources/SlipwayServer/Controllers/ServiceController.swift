import Foundation
import Hummingbird
import SlipwayCore
import SlipwayWire

/// Services, their environments and their product tiers.
struct ServiceController {
    let store: any SlipwayStore
    let clock: SlipwayClock

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        // Services
        api.post("service") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(CreateServiceRequest.self, from: request)
            try Validate.name(body.name)
            try Validate.text(body.description ?? "", field: "description")
            let service = Service(
                id: Identifiers.new(.service), organizationId: identity.organizationId, name: body.name, description: body.description ?? "",
                createdAt: clock.now())
            try await store.createService(service)
            return try JSONBody.response(service.id)
        }
        api.get("service") { request, context in
            let identity = try context.requireIdentity()
            let page = try await store.services(organizationId: identity.organizationId, page: try request.pageRequest())
            return try JSONBody.response(ListServicesResult(services: page.items.map(ServiceResult.init), nextPageToken: page.nextPageToken))
        }
        api.get("service/:serviceId") { _, context in
            let identity = try context.requireIdentity()
            let service = try await store.service(id: try context.path("serviceId"), organizationId: identity.organizationId)
            return try JSONBody.response(ServiceResult(service))
        }
        api.delete("service/:serviceId") { _, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            try await store.deleteService(id: try context.path("serviceId"), organizationId: identity.organizationId)
            return JSONBody.empty()
        }

        // Service environments
        api.post("service/:serviceId/environment") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(CreateServiceEnvironmentRequest.self, from: request)
            try Validate.name(body.name)
            try Validate.text(body.description ?? "", field: "description")
            let type = try Validate.environmentType(body.type ?? "dev")
            let environment = ServiceEnvironment(
                id: Identifiers.new(.serviceEnvironment), serviceId: try context.path("serviceId"), name: body.name,
                description: body.description ?? "", type: type, createdAt: clock.now())
            try await store.createEnvironment(environment, organizationId: identity.organizationId)
            return try JSONBody.response(environment.id)
        }
        api.get("service/:serviceId/environment") { request, context in
            let identity = try context.requireIdentity()
            let page = try await store.environments(
                serviceId: try context.path("serviceId"), organizationId: identity.organizationId, page: try request.pageRequest())
            return try JSONBody.response(
                ListServiceEnvironmentsResult(serviceEnvironments: page.items.map(ServiceEnvironmentResult.init), nextPageToken: page.nextPageToken))
        }
        api.get("service/:serviceId/environment/:environmentId") { _, context in
            let identity = try context.requireIdentity()
            let environment = try await store.environment(
                id: try context.path("environmentId"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
            return try JSONBody.response(ServiceEnvironmentResult(environment))
        }
        api.delete("service/:serviceId/environment/:environmentId") { _, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            try await store.deleteEnvironment(
                id: try context.path("environmentId"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
            return JSONBody.empty()
        }

        // Product tiers
        api.post("service/:serviceId/product-tier") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(CreateProductTierRequest.self, from: request)
            try Validate.name(body.name)
            try Validate.text(body.description ?? "", field: "description")
            let tier = ProductTier(
                id: Identifiers.new(.productTier), serviceId: try context.path("serviceId"), serviceEnvironmentId: body.serviceEnvironmentId,
                name: body.name, description: body.description ?? "", createdAt: clock.now())
            try await store.createProductTier(tier, organizationId: identity.organizationId)
            return try JSONBody.response(tier.id)
        }
        api.get("service/:serviceId/product-tier") { request, context in
            let identity = try context.requireIdentity()
            let page = try await store.productTiers(
                serviceId: try context.path("serviceId"), organizationId: identity.organizationId, page: try request.pageRequest())
            return try JSONBody.response(ListProductTiersResult(productTiers: page.items.map(ProductTierResult.init), nextPageToken: page.nextPageToken))
        }
        api.get("service/:serviceId/product-tier/:productTierId") { _, context in
            let identity = try context.requireIdentity()
            let tier = try await store.productTier(
                id: try context.path("productTierId"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
            return try JSONBody.response(ProductTierResult(tier))
        }
        api.delete("service/:serviceId/product-tier/:productTierId") { _, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            try await store.deleteProductTier(
                id: try context.path("productTierId"), serviceId: try context.path("serviceId"), organizationId: identity.organizationId)
            return JSONBody.empty()
        }
    }
}
