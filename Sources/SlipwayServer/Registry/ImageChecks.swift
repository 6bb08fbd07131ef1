import Foundation
import SlipwayCore
import SlipwayRegistry

/// What a release asks the registry before it pins anything: the digest the tag points at now and, when
/// the image config has a public key, a cosign signature of that digest by that key.
struct ImageChecks: Sendable {
    let registries: RegistryClient
    let secrets: SecretBox

    /// The checked image, or nil when the registry is not verified (the tag is pinned as it is).
    func check(_ config: ImageConfig, in registry: ImageRegistry) async throws -> CheckedImage? {
        guard registry.verifyImages else { return nil }
        let access = try self.access(registry)
        let image = "\(registry.host)/\(config.spec.imageName):\(config.spec.imageTag)"
        do {
            let digest = try await registries.resolveDigest(access, repository: config.spec.imageName, tag: config.spec.imageTag)
            if let key = config.spec.publicKeyPEM {
                try await registries.verifySignature(access, repository: config.spec.imageName, digest: digest, publicKeyPEM: key)
            }
            return CheckedImage(revision: config.revision, registryId: registry.id, digest: digest)
        } catch let error as RegistryError {
            throw Self.refusal(error, releasing: config.id, image: image)
        }
    }

    /// How to reach a registry, its password opened.
    func access(_ registry: ImageRegistry) throws -> RegistryAccess {
        let password: String?
        do {
            password = try registry.sealedPassword.map { try secrets.open($0, for: registry.id) }
        } catch let error as SecretBoxError {
            throw SlipwayError.invalidState("cannot use the password of image registry \(registry.id): \(error.description)")
        }
        return RegistryAccess(host: registry.host, insecure: registry.insecure, username: registry.username, password: password)
    }

    /// A registry's answer as the API reports it: 503 (temporary) when the registry is away, else 409.
    static func refusal(_ error: RegistryError, releasing configId: String, image: String) -> SlipwayError {
        let message = "cannot release image config \(configId) (\(image)): \(error.message)"
        switch error.kind {
        case .unavailable: return .unavailable(message)
        case .notFound, .refused, .signatureInvalid: return .invalidState(message)
        }
    }
}
