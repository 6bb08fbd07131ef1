import Foundation
import Hummingbird
import SlipwayCore
import SlipwayWire

/// Image registries: where images are pulled from. Passwords go in, never out.
struct ImageRegistryController {
    let store: any SlipwayStore
    let clock: SlipwayClock

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        api.post("image-registry") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(CreateImageRegistryRequest.self, from: request)
            try Validate.name(body.name)
            try Validate.registryHost(body.host)
            if let username = body.username { try Validate.text(username, field: "username", limit: Validate.Limit.credential) }
            if let password = body.password { try Validate.text(password, field: "password", limit: Validate.Limit.credential) }
            let registry = ImageRegistry(
                id: Identifiers.new(.imageRegistry), organizationId: identity.organizationId, name: body.name, host: body.host.lowercased(),
                username: body.username, password: body.password, isDefault: false, createdAt: clock.now())
            try await store.createImageRegistry(registry)
            return try JSONBody.response(registry.id)
        }
        api.get("image-registry") { request, context in
            let identity = try context.requireIdentity()
            let page = try await store.imageRegistries(organizationId: identity.organizationId, page: try request.pageRequest())
            return try JSONBody.response(
                ListImageRegistriesResult(imageRegistries: page.items.map(ImageRegistryResult.init), nextPageToken: page.nextPageToken))
        }
        api.get("image-registry/:registryId") { _, context in
            let identity = try context.requireIdentity()
            let registry = try await store.imageRegistry(id: try context.path("registryId"), organizationId: identity.organizationId)
            return try JSONBody.response(ImageRegistryResult(registry))
        }
        api.delete("image-registry/:registryId") { _, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            try await store.deleteImageRegistry(id: try context.path("registryId"), organizationId: identity.organizationId)
            return JSONBody.empty()
        }
    }
}
