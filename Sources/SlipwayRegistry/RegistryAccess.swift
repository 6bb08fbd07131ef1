/// Where a registry is and how to sign in to it.
public struct RegistryAccess: Sendable, Equatable {
    /// `host[:port]` as an image reference names it, e.g. `ghcr.io`, `127.0.0.1:5000` or `docker.io`.
    public var host: String
    /// Plain HTTP instead of HTTPS.
    public var insecure: Bool
    /// Credentials for basic auth or for the token service; nil for anonymous pulls.
    public var username: String?
    public var password: String?

    public init(host: String, insecure: Bool = false, username: String? = nil, password: String? = nil) {
        self.host = host
        self.insecure = insecure
        self.username = username
        self.password = password
    }
}

/// Why a registry lookup or a signature check failed, with a message a user can act on.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The repository, tag or digest does not exist.
        case notFound
        /// The registry could not be reached, timed out, or answered 5xx: worth retrying.
        case unavailable
        /// The registry refused the request (credentials, permissions, or another 4xx) or answered something unusable.
        case refused
        /// No signature, or none that verifies: the message says which.
        case signatureInvalid
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
