import Foundation
import Logging
import SlipwayCore

/// Sign-in, sessions, sign-up and users: the account rules on top of the store.
struct Accounts: Sendable {
    let store: any SlipwayStore
    let tokens: TokenIssuer
    let hasher: PasswordHasher
    /// Where every password hash and check runs: bounded, so a flood of sign-ins cannot pin every core.
    let passwordWork: PasswordWork
    let abuse: AbuseGuard

    /// Checks the credentials and opens a session. Every failure reads the same, so emails cannot be probed.
    /// Repeated failures to one account make further attempts wait (``SignInThrottle``).
    func signIn(email: String, password: String?, hashedPassword: String?, from address: String?) async throws -> (jwt: String, refresh: String) {
        guard password != nil || hashedPassword != nil else {
            throw SlipwayError.badRequest("send 'password' (or the deprecated 'hashedPassword') with 'email'")
        }
        if let password, password.isEmpty { throw SlipwayError.badRequest("field 'password' must not be empty") }
        guard email.utf8.count <= Validate.Limit.email, (password?.utf8.count ?? 0) <= Validate.Limit.password,
            (hashedPassword?.utf8.count ?? 0) <= 128
        else { throw SlipwayError.authFailure("wrong email or password") }
        try await abuse.admitSignIn(account: email, from: address)
        // Emails are unique per organization: the password says which of the organizations' users this is.
        let candidates = try await store.users(email: email)
        let records = candidates.isEmpty ? [Self.decoyRecord] : candidates.map(\.passwordHash)
        let hasher = self.hasher
        let matching = try await passwordWork.run {
            records.firstIndex { record in
                if let password { return hasher.verify(password: password, against: record) }
                return hasher.verify(sha256Hex: hashedPassword ?? "", against: record)
            }
        }
        guard let matching, !candidates.isEmpty else {
            await abuse.recordSignIn(account: email, from: address, succeeded: false)
            throw SlipwayError.authFailure("wrong email or password")
        }
        await abuse.recordSignIn(account: email, from: address, succeeded: true)
        let user = candidates[matching]
        guard !user.disabled else { throw SlipwayError.authFailure("user \(user.email) is disabled; ask an admin of your organization") }
        return try await openSession(for: user)
    }

    /// The caller's own password change: ends every session of the user (tokens and refresh tokens) and
    /// opens a new one for the caller.
    func changePassword(of identity: Identity, current: String, new: String) async throws -> (jwt: String, refresh: String) {
        guard let user = try await store.user(id: identity.userId) else { throw SlipwayError.authFailure("the user of this token no longer exists") }
        let hasher = self.hasher
        let matches = try await passwordWork.run { hasher.verify(password: current, against: user.passwordHash) }
        guard matches else { throw SlipwayError.forbidden("currentPassword is not the user's password") }
        guard new != current else { throw SlipwayError.badRequest("newPassword must differ from currentPassword") }
        try Validate.newPassword(new, field: "newPassword")
        let hash = try await hash(new)
        AuditTrail.current?.changed("password", .secretChanged)
        let (_, after) = try await store.changeUser(id: user.id, organizationId: user.organizationId) { user in
            user.passwordHash = hash
            user.mustChangePassword = false
        }
        return try await openSession(for: after)
    }

    /// Ends the session whose refresh token this is (the caller's own).
    func signOut(_ identity: Identity, refreshToken: String) async throws {
        guard try await store.deleteRefreshToken(hash: OpaqueToken.hash(refreshToken), userId: identity.userId) else {
            throw SlipwayError.notFound("no session of user \(identity.email) has this refresh token (it was used, ended or has expired)")
        }
    }

    /// Trades a refresh token for a new access token and a new refresh token (each refresh token works once).
    func refresh(_ refreshToken: String) async throws -> (jwt: String, refresh: String) {
        guard let user = try await store.takeRefreshToken(hash: OpaqueToken.hash(refreshToken), now: tokens.clock.now()) else {
            throw SlipwayError.authFailure("the refresh token is not valid, was already used or has expired; sign in again")
        }
        return try await openSession(for: user)
    }

    private func openSession(for user: User) async throws -> (jwt: String, refresh: String) {
        AuditTrail.current?.setActor(organizationId: user.organizationId, actorId: user.id, email: user.email)
        let jwt = try await tokens.accessToken(for: user)
        let refresh = OpaqueToken.new(prefix: "rt")
        try await store.saveRefreshToken(hash: refresh.hash, userId: user.id, expiresAt: tokens.clock.now().addingTimeInterval(tokens.refreshLifetime))
        return (jwt, refresh.token)
    }

    /// A new organization with its admin and default registry.
    func createOrganization(
        name: String, adminEmail: String, adminName: String, password: String, mustChangePassword: Bool = false
    ) async throws -> (Organization, User) {
        let now = tokens.clock.now()
        let organization = Organization(id: Identifiers.new(.organization), name: name, createdAt: now)
        let admin = User(
            id: Identifiers.new(.user), organizationId: organization.id, email: adminEmail.lowercased(), name: adminName, role: .admin,
            passwordHash: try await hash(password), createdAt: now, mustChangePassword: mustChangePassword)
        AuditTrail.current?.setActor(organizationId: organization.id, actorId: admin.id, email: admin.email)
        // Not verified: a release must not depend on reaching Docker Hub unless the organization says so
        // (PATCH the registry with verifyImages, or add its own registry, which verifies by default).
        let registry = ImageRegistry(
            id: Identifiers.new(.imageRegistry), organizationId: organization.id, name: "docker-hub", host: "docker.io", verifyImages: false,
            username: nil, sealedPassword: nil, isDefault: true, createdAt: now)
        try await store.createOrganization(organization, admin: admin, defaultRegistry: registry)
        return (organization, admin)
    }

    /// Adds a user to the caller's organization.
    func createUser(in organizationId: String, email: String, name: String, role: Role, password: String) async throws -> User {
        let user = User(
            id: Identifiers.new(.user), organizationId: organizationId, email: email.lowercased(), name: name, role: role,
            passwordHash: try await hash(password), createdAt: tokens.clock.now())
        try await store.createUser(user)
        return user
    }

    private func hash(_ password: String) async throws -> String {
        let hasher = self.hasher
        return try await passwordWork.run { try hasher.hash(password: password) }
    }

    /// Creates the first organization and admin on an empty database.
    ///
    /// Uses `adminEmail`/`adminPassword` when given; otherwise `admin@localhost` with a generated
    /// password that is logged once, since nobody could sign in otherwise.
    func bootstrap(adminEmail: String?, adminPassword: String?, logger: Logger) async throws {
        guard try await !store.hasOrganizations() else { return }
        let email = adminEmail ?? "admin@localhost"
        try Validate.email(email, field: "SLIPWAY_ADMIN_EMAIL")
        let password = adminPassword ?? Identifiers.random(length: 20)
        try Validate.newPassword(password, field: "SLIPWAY_ADMIN_PASSWORD")
        do {
            // A generated password was written to the log: it must be changed at first sign-in.
            _ = try await createOrganization(
                name: "default", adminEmail: email, adminName: "Administrator", password: password, mustChangePassword: adminPassword == nil)
        } catch let error as SlipwayError where error.kind == .invalidState {
            // Replicas started together on an empty database: another one created it first.
            guard try await store.hasOrganizations() else { throw error }
            return
        }
        if adminPassword == nil {
            logger.notice(
                "created the first admin; this password is shown only once and must be changed at first sign-in",
                metadata: ["email": "\(email)", "password": "\(password)"])
        } else {
            logger.notice("created the first admin", metadata: ["email": "\(email)"])
        }
    }

    /// A valid record for a password nobody has, so that unknown emails cost as much as wrong passwords.
    private static let decoyRecord = (try? PasswordHasher().hash(password: Identifiers.random(length: 24))) ?? ""
}
