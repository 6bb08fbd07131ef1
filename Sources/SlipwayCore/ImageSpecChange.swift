/// The fields an Update sends; nil leaves a field as it is.
public struct ImageSpecChange: Sendable, Equatable {
    public var description: String?
    public var imageName: String?
    public var imageTag: String?
    public var imageRegistryId: String?
    /// An empty string removes the key.
    public var publicKeyPEM: String?
    public var commands: [String]?
    public var args: [String]?

    public init(
        description: String? = nil, imageName: String? = nil, imageTag: String? = nil, imageRegistryId: String? = nil,
        publicKeyPEM: String? = nil, commands: [String]? = nil, args: [String]? = nil
    ) {
        self.description = description
        self.imageName = imageName
        self.imageTag = imageTag
        self.imageRegistryId = imageRegistryId
        self.publicKeyPEM = publicKeyPEM
        self.commands = commands
        self.args = args
    }

    /// Checks every field that is present.
    public func validate() throws {
        if let description { try Validate.text(description, field: "description") }
        if let imageName { try Validate.imageName(imageName) }
        if let imageTag { try Validate.imageTag(imageTag) }
        if let publicKeyPEM, !publicKeyPEM.isEmpty { try Validate.publicKeyPEM(publicKeyPEM) }
        if let commands { try Validate.list(commands, field: "customImageCommandsAndArgs.commands") }
        if let args { try Validate.list(args, field: "customImageCommandsAndArgs.args") }
    }
}

extension ImageSpec {
    /// What a create applies its fields to: tag `latest`, the organization's default registry (an empty id).
    public static let createBase = ImageSpec(
        description: "", imageName: "", imageTag: "latest", imageRegistryId: "", publicKeyPEM: nil, commands: nil, args: nil)

    /// The spec with a change applied.
    public func applying(_ change: ImageSpecChange) -> ImageSpec {
        var spec = self
        if let value = change.description { spec.description = value }
        if let value = change.imageName { spec.imageName = value }
        if let value = change.imageTag { spec.imageTag = value }
        if let value = change.imageRegistryId { spec.imageRegistryId = value }
        if let value = change.publicKeyPEM { spec.publicKeyPEM = value.isEmpty ? nil : value }
        if let value = change.commands { spec.commands = value }
        if let value = change.args { spec.args = value }
        return spec
    }
}

extension ImageSpecChange {
    /// Notes in an audit record what an update changes (a public key only as set or changed: it is long).
    public static func audit(from before: ImageSpec, to after: ImageSpec, in trail: AuditTrail) {
        trail.compare("description", before.description, after.description)
        trail.compare("imageName", before.imageName, after.imageName)
        trail.compare("imageTag", before.imageTag, after.imageTag)
        trail.compare("imageRegistryId", before.imageRegistryId, after.imageRegistryId)
        if before.publicKeyPEM != after.publicKeyPEM {
            trail.changed("imageSignaturePublicKeyPEM", AuditChange(before: before.publicKeyPEM == nil ? nil : "(set)", after: after.publicKeyPEM == nil ? nil : "(new key)"))
        }
        trail.compare("commands", before.commands?.joined(separator: " "), after.commands?.joined(separator: " "))
        trail.compare("args", before.args?.joined(separator: " "), after.args?.joined(separator: " "))
    }
}
