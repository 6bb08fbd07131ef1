import Foundation
import SlipwayWire
import Testing

/// Account lifecycle: roles, disabling, deleting, password changes, sign-out, the forced first password
/// change, and emails that say nothing about other organizations.
@Suite("Accounts: who may do what, and ending access at once")
struct AccountTests {
    static func user(_ api: APIClient, _ id: String) async throws -> UserResult? {
        try await api.call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self).users.first { $0.id == id }
    }

    @Test func adminsChangeAndDeleteUsersButNeverTheLastAdmin() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let me = try #require(try await admin.call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self).users.first)
            let editorId = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: "ed@example.com", password: "editor-pass", role: "editor"))
            let viewerId = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: "vi@example.com", password: "viewer-pass", role: "viewer"))
            let viewer = try await api.signIn("vi@example.com", "viewer-pass")

            let promoted = try await admin.call(.patch, "/2022-09-01-00/user/\(editorId)", json: UpdateUserRequest(role: "admin"))
            #expect(try promoted.decode(UserResult.self).role == "admin")
            try await admin.call(.patch, "/2022-09-01-00/user/\(editorId)", json: UpdateUserRequest(role: "owner")).expectError(
                .badRequest, "bad_request", containing: "role")
            try await admin.call(.patch, "/2022-09-01-00/user/u-doesnotexist", json: UpdateUserRequest(role: "viewer")).expectError(
                .notFound, "not_found", message: "user u-doesnotexist not found")
            try await viewer.call(.patch, "/2022-09-01-00/user/\(editorId)", json: UpdateUserRequest(role: "viewer")).expectError(
                .forbidden, "forbidden", message: "only an admin may do this; user vi@example.com has role viewer")
            try await viewer.call(.delete, "/2022-09-01-00/user/\(editorId)").expectError(
                .forbidden, "forbidden", message: "only an admin may do this; user vi@example.com has role viewer")

            // Two admins: either may go; the last one may not be demoted, disabled or deleted.
            #expect(try await admin.call(.delete, "/2022-09-01-00/user/\(editorId)").status == .ok)
            try await admin.call(.delete, "/2022-09-01-00/user/\(editorId)").expectError(.notFound, "not_found", message: "user \(editorId) not found")
            let last = "user \(adminEmail) is the organization's last enabled admin; make another user admin first"
            try await admin.call(.patch, "/2022-09-01-00/user/\(me.id)", json: UpdateUserRequest(role: "editor")).expectError(
                .conflict, "invalid_state", message: last)
            try await admin.call(.patch, "/2022-09-01-00/user/\(me.id)", json: UpdateUserRequest(disabled: true)).expectError(
                .conflict, "invalid_state", message: last)
            try await admin.call(.delete, "/2022-09-01-00/user/\(me.id)").expectError(.conflict, "invalid_state", message: last)
            #expect(try await admin.call(.delete, "/2022-09-01-00/user/\(viewerId)").status == .ok)
            try await viewer.call(.get, "/2022-09-01-00/service").expectError(
                .unauthorized, "auth_failure", message: "the user of this token no longer exists")
        }
    }

    @Test func aDisabledOrDemotedUserIsRefusedOnTheVeryNextRequest() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let editorId = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: "ed@example.com", password: "editor-pass", role: "editor"))
            let editor = try await api.signIn("ed@example.com", "editor-pass")
            // The token is verified and kept in memory before the change.
            #expect(try await editor.call(.get, "/2022-09-01-00/service").status == .ok)
            _ = try await editor.create("/2022-09-01-00/service", CreateServiceRequest(name: "before"))

            let disabled = try await admin.call(.patch, "/2022-09-01-00/user/\(editorId)", json: UpdateUserRequest(disabled: true))
            #expect(try disabled.decode(UserResult.self).disabled == true)
            try await editor.call(.get, "/2022-09-01-00/service").expectError(
                .unauthorized, "auth_failure", message: "user ed@example.com is disabled; ask an admin of your organization")
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: "ed@example.com", password: "editor-pass")).expectError(
                .unauthorized, "auth_failure", message: "user ed@example.com is disabled; ask an admin of your organization")

            // Enabled again: the old token stays dead (its session ended); a new sign-in works.
            #expect(try await admin.call(.patch, "/2022-09-01-00/user/\(editorId)", json: UpdateUserRequest(disabled: false)).status == .ok)
            try await editor.call(.get, "/2022-09-01-00/service").expectError(.unauthorized, "auth_failure", containing: "this session has ended")
            let again = try await api.signIn("ed@example.com", "editor-pass")
            _ = try await again.create("/2022-09-01-00/service", CreateServiceRequest(name: "after"))

            // Demoted to viewer: the next write is refused at once.
            #expect(try await admin.call(.patch, "/2022-09-01-00/user/\(editorId)", json: UpdateUserRequest(role: "viewer")).status == .ok)
            try await again.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: "late")).expectError(
                .unauthorized, "auth_failure",
                message: "this session has ended (the user's role, password or access changed); sign in again with POST /2022-09-01-00/signin")
            let asViewer = try await api.signIn("ed@example.com", "editor-pass")
            try await asViewer.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: "late")).expectError(
                .forbidden, "forbidden", message: "user ed@example.com has role viewer, which may only read; ask an admin for the editor role")
        }
    }

    @Test func aPasswordChangeEndsEveryOtherSessionAndSignOutEndsOne() async throws {
        try await withServer { api in
            let first = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
                .decode(SigninResult.self)
            let second = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
                .decode(SigninResult.self)
            let admin = api.as_(first.jwtToken)
            let path = "/2022-09-01-00/user/password"
            try await admin.call(.post, path, json: ChangePasswordRequest(currentPassword: "not-it", newPassword: "a-new-password")).expectError(
                .forbidden, "forbidden", message: "currentPassword is not the user's password")
            try await admin.call(.post, path, json: ChangePasswordRequest(currentPassword: adminPassword, newPassword: adminPassword)).expectError(
                .badRequest, "bad_request", message: "newPassword must differ from currentPassword")
            try await admin.call(.post, path, json: ChangePasswordRequest(currentPassword: adminPassword, newPassword: "short")).expectError(
                .badRequest, "bad_request", containing: "newPassword")

            // Sign-out ends one session's refresh token.
            try await admin.call(.post, "/2022-09-01-00/signout", json: SignoutRequest(refreshToken: "rt-nothing")).expectError(
                .notFound, "not_found", message: "no session of user \(adminEmail) has this refresh token (it was used, ended or has expired)")
            #expect(try await admin.call(.post, "/2022-09-01-00/signout", json: SignoutRequest(refreshToken: second.refreshToken ?? "")).status == .ok)
            try await api.call(.post, "/2022-09-01-00/refresh-token", json: RefreshTokenRequest(refreshToken: second.refreshToken ?? "")).expectError(
                .unauthorized, "auth_failure", containing: "the refresh token is not valid")

            let changed = try await admin.call(.post, path, json: ChangePasswordRequest(currentPassword: adminPassword, newPassword: "a-new-password"))
            let session = try changed.decode(SigninResult.self)
            try await admin.call(.get, "/2022-09-01-00/service").expectError(.unauthorized, "auth_failure", containing: "this session has ended")
            try await api.call(.post, "/2022-09-01-00/refresh-token", json: RefreshTokenRequest(refreshToken: first.refreshToken ?? "")).expectError(
                .unauthorized, "auth_failure", containing: "the refresh token is not valid")
            #expect(try await api.as_(session.jwtToken).call(.get, "/2022-09-01-00/service").status == .ok)
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword)).expectError(
                .unauthorized, "auth_failure", message: "wrong email or password")
            _ = try await api.signIn(adminEmail, "a-new-password")
        }
    }

    @Test func aGeneratedFirstAdminPasswordMustBeChangedFirst() async throws {
        var configuration = try await testConfiguration()
        configuration.adminPassword = nil
        let logs = CapturedLogs()
        try await withServer(configuration, logHandler: { logs.handler(label: $0) }) { api in
            let line = try #require(logs.all.first { $0.contains("created the first admin") })
            #expect(line.contains("must be changed at first sign-in"))
            let password = try #require(line.components(separatedBy: "password=").last?.prefix(20)).description
            let admin = try await api.signIn(adminEmail, password)
            let message = "user \(adminEmail) has a generated password that must be changed first: "
                + "POST /2022-09-01-00/user/password with currentPassword and newPassword"
            try await admin.call(.get, "/2022-09-01-00/service").expectError(.forbidden, "forbidden", message: message)
            try await admin.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: "x")).expectError(.forbidden, "forbidden", message: message)
            let users = try await admin.call(.get, "/2022-09-01-00/user")
            users.expectError(.forbidden, "forbidden", message: message)
            let session = try await admin.call(
                .post, "/2022-09-01-00/user/password", json: ChangePasswordRequest(currentPassword: password, newPassword: "chosen-by-me"))
                .decode(SigninResult.self)
            let listed = try await api.as_(session.jwtToken).call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self)
            #expect(listed.users.first?.mustChangePassword == false)
        }
    }

    @Test func emailsAreUniquePerOrganizationAndRevealNothingAboutOthers() async throws {
        var configuration = try await testConfiguration()
        configuration.allowSignup = true
        try await withServer(configuration) { api in
            let admin = try await api.signIn()
            _ = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: "shared@example.com", password: "first-org-pass", role: "editor"))
            try await admin.call(.post, "/2022-09-01-00/user", json: CreateUserRequest(email: "Shared@example.com", password: "another-pass", role: "viewer"))
                .expectError(.conflict, "invalid_state", message: "your organization already has a user with email shared@example.com; choose another email")
            // Another organization takes the same email without learning that it exists.
            let signup = try await api.call(
                .post, "/2022-09-01-00/signup",
                json: SignupRequest(name: "Other", email: "shared@example.com", password: "second-org-pass", companyName: "Other Co"))
            #expect(signup.status == .ok, "\(signup.body)")
            let other = try signup.decode(SignupResult.self)
            // The password says which one signs in.
            let first = try await api.signIn("shared@example.com", "first-org-pass")
            let second = try await api.signIn("shared@example.com", "second-org-pass")
            #expect(try await first.call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self).users.count == 2)
            #expect(try await second.call(.get, "/2022-09-01-00/user").decode(ListUsersResult.self).users.map(\.organizationId) == [other.organizationId])
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: "shared@example.com", password: "neither-pass"))
                .expectError(.unauthorized, "auth_failure", message: "wrong email or password")
            // An admin of the other organization adds an email this one has: no conflict, nothing said.
            _ = try await second.create("/2022-09-01-00/user", CreateUserRequest(email: adminEmail, password: "yet-another-pass", role: "viewer"))
        }
    }

    @Test func tokenLifetimeHasAnUpperBound() async throws {
        let (status, text) = try await ServerProcess.run(
            ["--database", temporarySQLiteFile()], environment: ["SLIPWAY_TOKEN_LIFETIME": "604800", "SLIPWAY_PORT": "0"])
        #expect(status != 0)
        #expect(text.contains("SLIPWAY_TOKEN_LIFETIME must be a number of seconds from 60 to 86400"), "\(text)")
    }
}
