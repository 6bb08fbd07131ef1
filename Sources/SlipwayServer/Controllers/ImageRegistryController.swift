import Foundation
import Hummingbird
import SlipwayCore
import SlipwayWire

/// Image registries: where images are pulled from and checked. Passwords go in (sealed), never out.
struct ImageRegistryController {
    let store: any SlipwayStore
    let clock: SlipwayClock
    /// Seals passwords before they reach the store.
    let secrets: SecretBox

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        api.post("image-registry") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(CreateImageRegistryRequest.self, from: request)
            try Validate.name(body.name)
            try Validate.registryHost(body.host)
            try Self.validateCredentials(username: body.username, password: body.password)
            let id = Identifiers.new(.imageRegistry)
            let registry = ImageRegistry(
                id: id, organizationId: identity.organizationId, name: body.name, host: body.host.lowercased(), insecure: body.insecure ?? false,
                verifyImages: body.verifyImages ?? true, username: body.username.flatMap { $0.isEmpty ? nil : $0 },
                sealedPassword: try seal(body.password, for: id), isDefault: false, createdAt: clock.now())
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
        api.patch("image-registry/:registryId") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(UpdateImageRegistryRequest.self, from: request)
            try Self.validateCredentials(username: body.username, password: body.password)
            let before = try await store.imageRegistry(id: try context.path("registryId"), organizationId: identity.organizationId)
            var registry = before
            if let username = body.username { registry.username = username.isEmpty ? nil : username }
            if let password = body.password { registry.sealedPassword = try seal(password, for: registry.id) }
            if let insecure = body.insecure { registry.insecure = insecure }
            if let verifyImages = body.verifyImages { registry.verifyImages = verifyImages }
            let trail = AuditTrail.current
            trail?.compare("username", before.username, registry.username)
            if body.password != nil { trail?.changed("password", .secretChanged) }
            trail?.compare("insecure", String(before.insecure), String(registry.insecure))
            trail?.compare("verifyImages", String(before.verifyImages), String(registry.verifyImages))
            try await store.updateImageRegistry(registry)
            return JSONBody.empty()
        }
        api.delete("image-registry/:registryId") { _, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            try await store.deleteImageRegistry(id: try context.path("registryId"), organizationId: identity.organizationId)
            return JSONBody.empty()
        }
    }

    private static func validateCredentials(username: String?, password: String?) throws {
        if let username { try Validate.text(username, field: "username", limit: Validate.Limit.credential) }
        if let password { try Validate.text(password, field: "password", limit: Validate.Limit.credential) }
    }

    /// The stored form of a password; nil for none (an empty one removes it).
    private func seal(_ password: String?, for registryId: String) throws -> String? {
        guard let password, !password.isEmpty else { return nil }
        return try secrets.seal(password, for: registryId)
    }
}
