import Hummingbird
import SlipwayCore

/// Requires `Authorization: Bearer <JWT>` and puts the caller into the request context, as the user is now:
/// a token of a disabled or deleted user, or one issued before the user's role or password changed, is
/// refused; a user who must change a generated password may do only that.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext
    let tokens: TokenIssuer
    let users: UserStates

    /// The one route open to a user who must change a generated password first.
    static let passwordChangePath = "/2022-09-01-00/user/password"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        switch request.bearer {
        case .missing:
            throw SlipwayError.authFailure("missing Authorization header: send 'Authorization: Bearer <jwtToken>' from POST /2022-09-01-00/signin")
        case .malformed:
            throw SlipwayError.authFailure("the Authorization header must be 'Bearer <jwtToken>'")
        case .token(let token):
            var identity = try await tokens.identity(fromBearer: token)
            guard let user = try await users.current(identity.userId), user.organizationId == identity.organizationId else {
                throw SlipwayError.authFailure("the user of this token no longer exists")
            }
            guard !user.disabled else {
                throw SlipwayError.authFailure("user \(user.email) is disabled; ask an admin of your organization")
            }
            guard user.tokenVersion == identity.tokenVersion else {
                throw SlipwayError.authFailure(
                    "this session has ended (the user's role, password or access changed); sign in again with POST /2022-09-01-00/signin")
            }
            identity.role = user.role
            if user.mustChangePassword && !(request.method == .post && request.uri.path == Self.passwordChangePath) {
                throw SlipwayError.forbidden(
                    "user \(user.email) has a generated password that must be changed first: "
                        + "POST \(Self.passwordChangePath) with currentPassword and newPassword")
            }
            context.identity = identity
        }
        return try await next(request, context)
    }
}
