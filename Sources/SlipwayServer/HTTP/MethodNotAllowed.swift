import HTTPTypes
@_spi(Internal) import Hummingbird

/// A request for a path that exists with a method it does not have: answered 405 with the goa body and
/// `Allow` (by `APIErrorMiddleware`), where a path that does not exist answers 404.
struct MethodNotAllowed: Error, Sendable {
    /// The methods the path has, for the `Allow` header.
    var allowed: [HTTPRequest.Method]

    var allowHeader: String { allowed.map(\.rawValue).joined(separator: ", ") }
}

/// Tells the two apart on the router's not-found path. Added to the router after every route, so that it
/// wraps only the not-found responder; it resolves the path the way the router does, on a trie of the same
/// routes whose value is each path's methods.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    private let methods: RouterTrie<[HTTPRequest.Method]>

    init(routes: [Router<Context>.RouteDescription]) {
        var byPath: [String: (path: RouterPath, methods: [HTTPRequest.Method])] = [:]
        for route in routes { byPath[route.path.description, default: (route.path, [])].methods.append(route.method) }
        let builder = RouterPathTrieBuilder<[HTTPRequest.Method]>()
        for (path, methods) in byPath.values {
            builder.addEntry(path, value: methods.sorted { $0.rawValue < $1.rawValue })
        }
        self.methods = builder.build()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            if let (allowed, _) = methods.resolve(request.uri.path), !allowed.contains(request.method) {
                throw MethodNotAllowed(allowed: allowed)
            }
            throw error
        }
    }
}
