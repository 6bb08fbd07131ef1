/// The one error type of the domain. The API layer maps it to the goa error body in one place.
public struct SlipwayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The class of failure; each maps to one HTTP status and goa error name.
    public enum Kind: String, Sendable {
        case badRequest = "bad_request"
        case authFailure = "auth_failure"
        case forbidden = "forbidden"
        case notFound = "not_found"
        /// The path exists but not with this method (the answer lists the methods it has).
        case methodNotAllowed = "method_not_allowed"
        case invalidState = "invalid_state"
        case failedRequest = "failed_request"
        /// A dependency (the database) cannot answer now; the same request may succeed later.
        case unavailable = "service_unavailable"
        /// The caller sent more than its limit allows; it may retry after `retryAfter`.
        case tooManyRequests = "too_many_requests"
    }

    public var kind: Kind
    /// What was wrong and how to fix it. Never SQL, paths or stack traces.
    public var message: String
    /// When a retry may succeed, in whole seconds (sent as `Retry-After`).
    public var retryAfter: Int?

    public init(_ kind: Kind, _ message: String, retryAfter: Int? = nil) {
        self.kind = kind
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(kind.rawValue): \(message)" }

    /// Whether retrying the same request later may succeed.
    public var isTemporary: Bool { kind == .unavailable || kind == .tooManyRequests }

    public static func badRequest(_ message: String) -> SlipwayError { .init(.badRequest, message) }
    public static func authFailure(_ message: String) -> SlipwayError { .init(.authFailure, message) }
    public static func forbidden(_ message: String) -> SlipwayError { .init(.forbidden, message) }
    public static func notFound(_ message: String) -> SlipwayError { .init(.notFound, message) }
    public static func invalidState(_ message: String) -> SlipwayError { .init(.invalidState, message) }
    public static func failedRequest(_ message: String) -> SlipwayError { .init(.failedRequest, message) }
    public static func unavailable(_ message: String, retryAfter: Int? = nil) -> SlipwayError {
        .init(.unavailable, message, retryAfter: retryAfter)
    }
    public static func tooManyRequests(_ message: String, retryAfter: Int) -> SlipwayError {
        .init(.tooManyRequests, message, retryAfter: retryAfter)
    }

    /// The not-found error for a resource, worded the same everywhere (and identical for another organization's).
    public static func notFound(_ resource: ResourceKind, _ id: String) -> SlipwayError {
        .notFound("\(resource.displayName) \(id) not found")
    }
}

/// The kinds of resource, with the id prefix each uses.
public enum ResourceKind: String, Sendable, CaseIterable {
    case organization = "org"
    case user = "u"
    case service = "s"
    case serviceEnvironment = "se"
    case productTier = "pt"
    case imageRegistry = "ir"
    case imageConfig = "imgc"
    case tierVersion = "tv"
    case instance = "inst"
    case rollout = "up"
    case webhook = "wh"

    public var prefix: String { rawValue }

    /// The key of this kind's ids in audit targets: `serviceId`, `imageConfigId`, …
    public var auditKey: String {
        let words = displayName.split(separator: " ")
        return words.enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.capitalized }.joined() + "Id"
    }

    public var displayName: String {
        switch self {
        case .organization: "organization"
        case .user: "user"
        case .service: "service"
        case .serviceEnvironment: "service environment"
        case .productTier: "product tier"
        case .imageRegistry: "image registry"
        case .imageConfig: "image config"
        case .tierVersion: "tier version"
        case .instance: "instance"
        case .rollout: "rollout"
        case .webhook: "webhook"
        }
    }
}
