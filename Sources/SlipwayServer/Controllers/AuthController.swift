import Hummingbird
import SlipwayCore
import SlipwayWire

/// Sign-in, token refresh, sign-up and user management.
struct AuthController {
    let accounts: Accounts
    let allowSignup: Bool

    /// Routes that take no bearer token.
    func addPublicRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        api.post("signin") { request, context in
            try await accounts.abuse.admit(.signIn, from: context.clientAddress)
            let body = try await JSONBody.decode(SigninRequest.self, from: request)
            guard !body.email.isEmpty else { throw SlipwayError.badRequest("field 'email' must not be empty") }
            let session = try await accounts.signIn(
                email: body.email, password: body.password, hashedPassword: body.hashedPassword, from: context.clientAddress)
            return try JSONBody.response(SigninResult(jwtToken: session.jwt, refreshToken: session.refresh))
        }
        api.post("refresh-token") { request, context in
            try await accounts.abuse.admit(.refresh, from: context.clientAddress)
            let body = try await JSONBody.decode(RefreshTokenRequest.self, from: request)
            let session = try await accounts.refresh(body.refreshToken)
            return try JSONBody.response(SigninResult(jwtToken: session.jwt, refreshToken: session.refresh))
        }
        api.post("signup") { request, context in
            guard allowSignup else {
                throw SlipwayError.forbidden(
                    "sign-up is turned off on this server; ask an admin to add you with POST /2022-09-01-00/user, "
                        + "or start slipwayd with --allow-signup")
            }
            try await accounts.abuse.admit(.signUp, from: context.clientAddress)
            let body = try await JSONBody.decode(SignupRequest.self, from: request)
            try Validate.name(body.name, field: "name")
            try Validate.email(body.email)
            try Validate.newPassword(body.password)
            try Validate.name(body.companyName, field: "companyName")
            let (organization, user) = try await accounts.createOrganization(
                name: body.companyName, adminEmail: body.email, adminName: body.name, password: body.password)
            return try JSONBody.response(SignupResult(organizationId: organization.id, userId: user.id))
        }
    }

    /// Routes that need a signed-in caller.
    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        api.post("user") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireAdmin()
            let body = try await JSONBody.decode(CreateUserRequest.self, from: request)
            try Validate.email(body.email)
            try Validate.newPassword(body.password)
            let role = try Validate.role(body.role)
            let name = body.name ?? String(body.email.prefix { $0 != "@" }).prefix(utf8Bytes: Validate.Limit.name)
            try Validate.name(name, field: "name")
            let user = try await accounts.createUser(
                in: identity.organizationId, email: body.email, name: name, role: role, password: body.password)
            return try JSONBody.response(user.id)
        }
        api.get("user") { _, context in
            let identity = try context.requireIdentity()
            let users = try await accounts.store.users(organizationId: identity.organizationId)
            return try JSONBody.response(ListUsersResult(users: users.map(UserResult.init)))
        }
        api.patch("user/:userId") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireAdmin()
            let body = try await JSONBody.decode(UpdateUserRequest.self, from: request)
            let role = try body.role.map { try Validate.role($0) }
            if body.disabled == true { AuditTrail.current?.setAction("user.disable") }
            if body.disabled == false { AuditTrail.current?.setAction("user.enable") }
            let (_, after) = try await accounts.store.changeUser(id: try context.path("userId"), organizationId: identity.organizationId) { user in
                let before = user
                if let role { user.role = role }
                if let disabled = body.disabled { user.disabled = disabled }
                // Inside the transaction, before its audit record is written.
                AuditTrail.current?.compare("role", before.role.rawValue, user.role.rawValue)
                AuditTrail.current?.compare("disabled", String(before.disabled), String(user.disabled))
            }
            return try JSONBody.response(UserResult(after))
        }
        api.delete("user/:userId") { _, context in
            let identity = try context.requireIdentity()
            try identity.requireAdmin()
            _ = try await accounts.store.deleteUser(id: try context.path("userId"), organizationId: identity.organizationId)
            return JSONBody.empty()
        }
        api.post("user/password") { request, context in
            let identity = try context.requireIdentity()
            let body = try await JSONBody.decode(ChangePasswordRequest.self, from: request)
            guard body.currentPassword.utf8.count <= Validate.Limit.password else {
                throw SlipwayError.forbidden("currentPassword is not the user's password")
            }
            let session = try await accounts.changePassword(of: identity, current: body.currentPassword, new: body.newPassword)
            return try JSONBody.response(SigninResult(jwtToken: session.jwt, refreshToken: session.refresh))
        }
        api.post("signout") { request, context in
            let identity = try context.requireIdentity()
            let body = try await JSONBody.decode(SignoutRequest.self, from: request)
            try await accounts.signOut(identity, refreshToken: body.refreshToken)
            return JSONBody.empty()
        }
    }
}
