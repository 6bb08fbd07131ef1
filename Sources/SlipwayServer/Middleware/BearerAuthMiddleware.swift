import Hummingbird
import SlipwayCore

/// Requires `Authorization: Bearer <JWT>` and puts the caller into the request context.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    let tokens: TokenIssuer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        switch request.bearer {
        case .missing:
            throw SlipwayError.authFailure("missing Authorization header: send 'Authorization: Bearer <jwtToken>' from POST /2022-09-01-00/signin")
        case .malformed:
            throw SlipwayError.authFailure("the Authorization header must be 'Bearer <jwtToken>'")
        case .token(let token):
            context.identity = try await tokens.identity(fromBearer: token)
        }
        return try await next(request, context)
    }
}
