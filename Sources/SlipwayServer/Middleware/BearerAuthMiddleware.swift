import Hummingbird
import SlipwayCore

/// Requires `Authorization: Bearer <JWT>` and puts the caller into the request context.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    let tokens: TokenIssuer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw SlipwayError.authFailure("missing Authorization header: send 'Authorization: Bearer <jwtToken>' from POST /2022-09-01-00/signin")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw SlipwayError.authFailure("the Authorization header must be 'Bearer <jwtToken>'")
        }
        var context = context
        // Trimmed by hand: Foundation's trimming bridges through NSString, a measurable cost on every request.
        var token = parts[1]
        while token.first == " " || token.first == "\t" { token.removeFirst() }
        while token.last == " " || token.last == "\t" { token.removeLast() }
        context.identity = try await tokens.identity(fromBearer: String(token))
        return try await next(request, context)
    }
}
