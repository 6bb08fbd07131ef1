import Foundation
import Hummingbird
import SlipwayCore

/// Gives every state-changing request an audit record: written by the store with the request's first write
/// (same transaction), or, for a request that wrote nothing (refused, failed, a dry run), on its own once it
/// has its answer. Agent routes are not audited one by one (a rollout's history covers them).
struct AuditMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    let store: any SlipwayStore
    let clock: SlipwayClock

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard [.post, .put, .patch, .delete].contains(request.method) else { return try await next(request, context) }
        let identity = context.identity
        let route = context.endpointPath ?? request.uri.path
        let trail = AuditTrail(
            AuditRecord(
                at: clock.now(), organizationId: identity?.organizationId ?? "", actorType: "user", actorId: identity?.userId,
                actorEmail: identity?.email, action: Self.action(method: request.method, route: route),
                targets: Self.targets(route: route, parameters: context.parameters), clientAddress: context.clientAddress))
        do {
            let response = try await AuditTrail.$current.withValue(trail) { try await next(request, context) }
            if !trail.isCommitted { try await append(trail, status: Int(response.status.code), errorId: nil) }
            return response
        } catch {
            let (status, body, _) = APIErrorMiddleware<Context>.goaError(for: error, request: request)
            if !trail.isCommitted { try? await append(trail, status: Int(status.code), errorId: body.id) }
            throw IdentifiedError(id: body.id, underlying: error)
        }
    }

    private func append(_ trail: AuditTrail, status: Int, errorId: String?) async throws {
        var record = trail.record
        guard !record.organizationId.isEmpty else { return }  // a sign-in that found nobody: no organization to tell
        record.status = status
        record.errorId = errorId
        try await store.appendAudit(record)
    }

    /// `service.create`, `image-config.update`, `rollout.pause`, … from the route pattern.
    static func action(method: HTTPRequest.Method, route: String) -> String {
        let segments = route.split(separator: "/").map(String.init).filter { $0 != "2022-09-01-00" }
        let literals = segments.filter { !$0.hasPrefix("{") && !$0.hasPrefix(":") }
        guard let last = literals.last else { return "unknown" }
        switch (method, last) {
        case (.post, "signin"): return "session.signin"
        case (.post, "refresh-token"): return "session.refresh"
        case (.post, "signout"): return "session.signout"
        case (.post, "signup"): return "organization.signup"
        case (.post, "password"): return "user.password-change"
        default: break
        }
        let endsWithParameter = segments.last.map { $0.hasPrefix("{") || $0.hasPrefix(":") } ?? false
        let resource = Self.resource(last)
        switch method {
        case .patch, .put: return "\(resource).update"
        case .delete: return "\(resource).delete"
        default:
            if endsWithParameter { return "\(resource).update" }
            // POST …/image-config/{id}/release, …/rollout/pause: an action on the resource before it.
            if !collections.contains(last), literals.count >= 2 { return "\(Self.resource(literals[literals.count - 2])).\(last)" }
            return "\(resource).create"
        }
    }

    /// Path segments that name collections (a POST to one creates).
    static let collections: Set<String> = [
        "service", "environment", "product-tier", "image-config", "image-registry", "user", "instance", "rollout",
    ]

    private static func resource(_ segment: String) -> String { segment == "environment" ? "service-environment" : segment }

    /// The ids the path names, by kind: `{id}` takes the name of the collection before it.
    static func targets(route: String, parameters: Parameters) -> [String: String] {
        var targets: [String: String] = [:]
        var previous = ""
        for segment in route.split(separator: "/").map(String.init) {
            guard segment.hasPrefix("{") || segment.hasPrefix(":") else {
                previous = segment
                continue
            }
            let name = segment.trimmingCharacters(in: CharacterSet(charactersIn: "{}:"))
            guard let value = parameters.get(name) else { continue }
            let key = name == "id" ? camelCase(previous) + "Id" : name
            targets[key] = value
        }
        return targets
    }

    private static func camelCase(_ kebab: String) -> String {
        let words = kebab.split(separator: "-")
        return words.enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.capitalized }.joined()
    }
}

/// A failure whose goa error id was already chosen (the audit record names it); ``APIErrorMiddleware``
/// answers with that id.
struct IdentifiedError: Error {
    let id: String
    let underlying: any Error
}
