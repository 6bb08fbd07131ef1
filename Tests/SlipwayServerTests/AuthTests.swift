import Foundation
import Synchronization
import SlipwayCore
import SlipwayWire
import Testing

@Suite("Sign-in, tokens, sign-up, users and roles")
struct AuthTests {
    @Test func signInWithPasswordOrHashedPassword() async throws {
        try await withServer { api in
            let reply = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
            #expect(reply.status == .ok)
            let result = try reply.decode(SigninResult.self)
            #expect(result.jwtToken.split(separator: ".").count == 3)
            #expect(result.refreshToken?.isEmpty == false)
            // The deprecated hashedPassword (hex SHA-256 of the password), as a public GitHub action still sends it; any case.
            let hashed = PasswordHasher.sha256Hex(adminPassword)
            for value in [hashed, hashed.uppercased()] {
                let viaHash = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, hashedPassword: value))
                #expect(viaHash.status == .ok, "\(viaHash.body)")
            }
            // Emails are case-insensitive.
            #expect(try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: "ADMIN@example.com", password: adminPassword)).status == .ok)
            let token = try reply.decode(SigninResult.self).jwtToken
            #expect(try await api.as_(token).call(.get, "/2022-09-01-00/service").status == .ok)
            // Stray whitespace around the token is forgiven.
            #expect(try await api.call(.get, "/2022-09-01-00/service", headers: [.authorization: "Bearer  \(token) "]).status == .ok)
        }
    }

    @Test func signInFailures() async throws {
        try await withServer { api in
            let wrong = "wrong email or password"
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: "nope-nope")).expectError(
                .unauthorized, "auth_failure", message: wrong)
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: "ghost@example.com", password: adminPassword)).expectError(
                .unauthorized, "auth_failure", message: wrong)
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, hashedPassword: "00")).expectError(
                .unauthorized, "auth_failure", message: wrong)
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail)).expectError(
                .badRequest, "bad_request", message: "send 'password' (or the deprecated 'hashedPassword') with 'email'")
            try await api.call(.post, "/2022-09-01-00/signin", body: "{\"password\":\"x\"}").expectError(
                .badRequest, "bad_request", message: "field 'email' is required")
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: "", password: "x")).expectError(
                .badRequest, "bad_request", message: "field 'email' must not be empty")
        }
    }

    /// A token that worked (and was kept as verified) stops working when the server's clock passes its expiry.
    @Test func aVerifiedTokenExpiresOnTheServersClock() async throws {
        let offset = Mutex<TimeInterval>(0)
        var configuration = try await testConfiguration()
        configuration.clock = SlipwayClock { Date().addingTimeInterval(offset.withLock { $0 }) }
        configuration.tokenLifetime = 3600
        try await withServer(configuration) { api in
            let signedIn = try await api.signIn()
            #expect(try await signedIn.call(.get, "/2022-09-01-00/service").status == .ok)
            offset.withLock { $0 = 3601 }
            try await signedIn.call(.get, "/2022-09-01-00/service").expectError(
                .unauthorized, "auth_failure", message: "the token has expired or is not valid; sign in again or use POST /2022-09-01-00/refresh-token")
        }
    }

    @Test func bearerTokenFailures() async throws {
        var expired = try await testConfiguration()
        expired.tokenLifetime = -5
        try await withServer(expired) { api in
            let signedIn = try await api.signIn()
            try await signedIn.call(.get, "/2022-09-01-00/service").expectError(
                .unauthorized, "auth_failure", message: "the token has expired or is not valid; sign in again or use POST /2022-09-01-00/refresh-token")
        }
        try await withServer { api in
            try await api.call(.get, "/2022-09-01-00/service").expectError(
                .unauthorized, "auth_failure", message: "missing Authorization header: send 'Authorization: Bearer <jwtToken>' from POST /2022-09-01-00/signin")
            try await api.call(.get, "/2022-09-01-00/service", headers: [.authorization: "Basic YTpi"]).expectError(
                .unauthorized, "auth_failure", message: "the Authorization header must be 'Bearer <jwtToken>'")
            try await api.as_("not.a.jwt").call(.get, "/2022-09-01-00/service").expectError(
                .unauthorized, "auth_failure", message: "the bearer token is not a valid Slipway token; sign in with POST /2022-09-01-00/signin")
            // A token signed by another server's key.
            let other = try await withServer { other in try await other.signIn().token! }
            try await api.as_(other).call(.get, "/2022-09-01-00/service").expectError(.unauthorized, "auth_failure")
        }
    }

    @Test func refreshTokensRotate() async throws {
        try await withServer { api in
            let first = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
                .decode(SigninResult.self)
            let refresh = try #require(first.refreshToken)
            let renewed = try await api.call(.post, "/2022-09-01-00/refresh-token", json: RefreshTokenRequest(refreshToken: refresh))
            #expect(renewed.status == .ok)
            let session = try renewed.decode(SigninResult.self)
            #expect(session.refreshToken != refresh)
            #expect(try await api.as_(session.jwtToken).call(.get, "/2022-09-01-00/service").status == .ok)
            try await api.call(.post, "/2022-09-01-00/refresh-token", json: RefreshTokenRequest(refreshToken: refresh)).expectError(
                .unauthorized, "auth_failure", message: "the refresh token is not valid, was already used or has expired; sign in again")
        }
    }

    @Test func rolesAndUsers() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let fixture = try await Fixture.make(admin)
            let viewerId = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: "viewer@example.com", password: "viewer-pass", role: "viewer"))
            #expect(viewerId.hasPrefix("u-"))
            _ = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: "editor@example.com", password: "editor-pass", role: "editor"))
            try await admin.call(.post, "/2022-09-01-00/user", json: CreateUserRequest(email: "Viewer@example.com", password: "viewer-pass", role: "viewer"))
                .expectError(.conflict, "invalid_state", message: "your organization already has a user with email viewer@example.com; choose another email")
            try await admin.call(.post, "/2022-09-01-00/user", json: CreateUserRequest(email: "x@example.com", password: "short", role: "viewer"))
                .expectError(.badRequest, "bad_request", message: "password must be at least 8 characters")
            try await admin.call(.post, "/2022-09-01-00/user", json: CreateUserRequest(email: "x@example.com", password: "long-enough", role: "owner"))
                .expectError(.badRequest, "bad_request", message: "role must be one of admin, editor, viewer, got 'owner'")
            try await admin.call(.post, "/2022-09-01-00/user", json: CreateUserRequest(email: "no-at-sign", password: "long-enough", role: "viewer"))
                .expectError(.badRequest, "bad_request", message: "email must be an email address such as 'ops@example.com'")
            for email in ["a\u{9F}b@example.com", "ab@exa\u{1}mple.com"] {  // control characters
                try await admin.call(.post, "/2022-09-01-00/user", json: CreateUserRequest(email: email, password: "long-enough", role: "viewer"))
                    .expectError(.badRequest, "bad_request", message: "email must be an email address such as 'ops@example.com'")
            }
            // Without a name, the email's local part stands in, even for an email longer than a name may be.
            let longEmail = String(repeating: "l", count: 120) + "@example.com"
            _ = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: longEmail, password: "long-enough", role: "viewer"))
            let users = try await admin.call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self)
            #expect(users.users.last?.name == String(repeating: "l", count: 100))
            #expect(users.users.map(\.email) == [adminEmail, "viewer@example.com", "editor@example.com", longEmail])

            let viewer = try await api.signIn("viewer@example.com", "viewer-pass")
            #expect(try await viewer.call(.get, fixture.imageConfigPath).status == .ok)
            let forbidden = "user viewer@example.com has role viewer, which may only read; ask an admin for the editor role"
            try await viewer.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "x")).expectError(
                .forbidden, "forbidden", message: forbidden)
            try await viewer.call(.post, fixture.imageConfigPath + "/release").expectError(.forbidden, "forbidden", message: forbidden)
            try await viewer.call(.delete, fixture.imageConfigPath).expectError(.forbidden, "forbidden", message: forbidden)
            try await viewer.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: "x")).expectError(.forbidden, "forbidden")
            try await viewer.call(.post, "/2022-09-01-00/image-registry", json: CreateImageRegistryRequest(name: "r", host: "ghcr.io")).expectError(
                .forbidden, "forbidden")

            let editor = try await api.signIn("editor@example.com", "editor-pass")
            #expect(try await editor.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "17")).status == .ok)
            try await editor.call(.post, "/2022-09-01-00/user", json: CreateUserRequest(email: "y@example.com", password: "long-enough", role: "admin"))
                .expectError(.forbidden, "forbidden", message: "only an admin may do this; user editor@example.com has role editor")
        }
    }

    @Test func signUp() async throws {
        let request = SignupRequest(name: "Grace", email: "grace@acme.test", password: "grace-password", companyName: "Acme")
        try await withServer { api in
            try await api.call(.post, "/2022-09-01-00/signup", json: request).expectError(
                .forbidden, "forbidden", containing: "sign-up is turned off on this server")
        }
        var open = try await testConfiguration()
        open.allowSignup = true
        try await withServer(open) { api in
            let result = try await api.call(.post, "/2022-09-01-00/signup", json: request).decode(SignupResult.self)
            #expect(result.organizationId.hasPrefix("org-"))
            let grace = try await api.signIn("grace@acme.test", "grace-password")
            let users = try await grace.call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self)
            #expect(users.users.map(\.role) == ["admin"])
            // Her organization gets its own default registry.
            let registries = try await grace.call(.get, "/2022-09-01-00/image-registry").decode(ListImageRegistriesResult.self)
            #expect(registries.imageRegistries.map(\.host) == ["docker.io"])
            // The same email signs up another organization: nothing says that it exists already.
            #expect(try await api.call(.post, "/2022-09-01-00/signup", json: request).status == .ok)
            try await api.call(.post, "/2022-09-01-00/signup", json: SignupRequest(name: "G", email: "g@x.test", password: "p", companyName: "C"))
                .expectError(.badRequest, "bad_request", message: "password must be at least 8 characters")
        }
    }

    @Test func firstStartWithoutAdminSettingsPrintsAGeneratedPassword() async throws {
        var configuration = try await testConfiguration()
        configuration.adminEmail = nil
        configuration.adminPassword = nil
        let logs = CapturedLogs()
        try await withServer(configuration, logHandler: { logs.handler(label: $0) }) { api in
            let line = try #require(logs.all.first { $0.contains("created the first admin") })
            #expect(line.contains("email=admin@localhost"))
            let password = try #require(line.split(separator: " ").first { $0.hasPrefix("password=") }?.dropFirst("password=".count))
            _ = try await api.signIn("admin@localhost", String(password))
        }
    }
}
