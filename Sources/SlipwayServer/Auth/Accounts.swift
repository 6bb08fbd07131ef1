import Foundation
import Logging
import NIOPosix
import SlipwayCore

/// Sign-in, sessions, sign-up and users: the account rules on top of the store.
struct Accounts: Sendable {
    let store: any SlipwayStore
    let tokens: TokenIssuer
    let hasher: PasswordHasher

    /// Checks the credentials and opens a session. Every failure reads the same, so emails cannot be probed.
    func signIn(email: String, password: String?, hashedPassword: String?) async throws -> (jwt: String, refresh: String) {
        guard password != nil || hashedPassword != nil else {
            throw SlipwayError.badRequest("send 'password' (or the deprecated 'hashedPassword') with 'email'")
        }
        if let password, password.isEmpty { throw SlipwayError.badRequest("field 'password' must not be empty") }
        guard email.count <= Validate.Limit.email, (password?.count ?? 0) <= Validate.Limit.password,
            (hashedPassword?.count ?? 0) <= 128
        else { throw SlipwayError.authFailure("wrong email or password") }
        let user = try await store.user(email: email)
        let record = user?.passwordHash ?? Self.decoyRecord
        let hasher = self.hasher
        // PBKDF2 is deliberately slow: keep it off the cooperative pool.
        let matches = try await NIOThreadPool.singleton.runIfActive {
            if let password { return hasher.verify(password: password, against: record) }
            return hasher.verify(sha256Hex: hashedPassword ?? "", against: record)
        }
        guard let user, matches else { throw SlipwayError.authFailure("wrong email or password") }
        return try await openSession(for: user)
    }

    /// Trades a refresh token for a new access token and a new refresh token (each refresh token works once).
    func refresh(_ refreshToken: String) async throws -> (jwt: String, refresh: String) {
        guard let user = try await store.takeRefreshToken(hash: OpaqueToken.hash(refreshToken), now: tokens.clock.now()) else {
            throw SlipwayError.authFailure("the refresh token is not valid, was already used or has expired; sign in again")
        }
        return try await openSession(for: user)
    }

    private func openSession(for user: User) async throws -> (jwt: String, refresh: String) {
        let jwt = try await tokens.accessToken(for: user)
        let refresh = OpaqueToken.new(prefix: "rt")
        try await store.saveRefreshToken(hash: refresh.hash, userId: user.id, expiresAt: tokens.clock.now().addingTimeInterval(tokens.refreshLifetime))
        return (jwt, refresh.token)
    }

    /// A new organization with its admin and default registry.
    func createOrganization(name: String, adminEmail: String, adminName: String, password: String) async throws -> (Organization, User) {
        let now = tokens.clock.now()
        let organization = Organization(id: Identifiers.new(.organization), name: name, createdAt: now)
        let admin = User(
            id: Identifiers.new(.user), organizationId: organization.id, email: adminEmail.lowercased(), name: adminName, role: .admin,
            passwordHash: try await hash(password), createdAt: now)
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
        return try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password: password) }
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
            _ = try await createOrganization(name: "default", adminEmail: email, adminName: "Administrator", password: password)
        } catch let error as SlipwayError where error.kind == .invalidState {
            // Replicas started together on an empty database: another one created it first.
            guard try await store.hasOrganizations() else { throw error }
            return
        }
        if adminPassword == nil {
            logger.notice(
                "created the first admin; this password is shown only once", metadata: ["email": "\(email)", "password": "\(password)"])
        } else {
            logger.notice("created the first admin", metadata: ["email": "\(email)"])
        }
    }

    /// A valid record for a password nobody has, so that unknown emails cost as much as wrong passwords.
    private static let decoyRecord = (try? PasswordHasher().hash(password: Identifiers.random(length: 24))) ?? ""
}
