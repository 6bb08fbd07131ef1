import Foundation
import HTTPTypes
import SlipwayWire
import Testing

/// The audit log: every state-changing operation of the API leaves exactly one record, with its actor,
/// action, targets and outcome; refusals too; nobody can change it through the API.
@Suite("The audit log")
struct AuditLogTests {
    /// Every state-changing operation the served document describes, as `METHOD /path/{template}`.
    static func mutatingOperations() throws -> Set<String> {
        let document = try String(contentsOf: openAPIFile, encoding: .utf8)
        var operations: Set<String> = []
        var path = ""
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":") { path = String(line.dropFirst(2).dropLast()) }
            for method in ["post", "patch", "put", "delete"] where line == "    \(method):" {
                operations.insert("\(method.uppercased()) \(path)")
            }
        }
        return operations
    }

    static var openAPIFile: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/SlipwayServer/OpenAPI/openapi.yaml")
    }

    /// Calls one operation and checks that it left exactly one new record, as expected.
    final class Auditor: @unchecked Sendable {
        var admin: APIClient
        var seen = 0
        var covered: Set<String> = []

        init(admin: APIClient) {
            self.admin = admin
        }

        func records() async throws -> [AuditRecordResult] {
            try await admin.call(.get, "/2022-09-01-00/audit-log?pageSize=500").decode(ListAuditRecordsResult.self).records
        }

        @discardableResult
        /// `status` nil: whatever the server answered (a step whose outcome depends on the engine's timing).
        func expect(
            _ operation: String, action: String, status expected: Int? = 200, actor: String = adminEmail, targets: [String: String] = [:],
            sourceLocation: SourceLocation = #_sourceLocation, _ call: () async throws -> Reply
        ) async throws -> Reply {
            let reply = try await call()
            let status = expected ?? Int(reply.status.code)
            #expect(Int(reply.status.code) == status, "\(operation): \(reply.body)", sourceLocation: sourceLocation)
            let records = try await records()
            #expect(records.count == seen + 1, "\(operation) left \(records.count - seen) records", sourceLocation: sourceLocation)
            seen = records.count
            covered.insert(operation)
            guard let record = records.first else { return reply }
            #expect(record.action == action, "\(operation)", sourceLocation: sourceLocation)
            #expect(record.status == status, "\(operation)", sourceLocation: sourceLocation)
            #expect(record.actorEmail == actor, "\(operation)", sourceLocation: sourceLocation)
            #expect(record.clientAddress == "127.0.0.1", sourceLocation: sourceLocation)
            for (key, value) in targets { #expect(record.targets[key] == value, "\(operation): \(record.targets)", sourceLocation: sourceLocation) }
            if status >= 400 {
                let error = try reply.decode(GoaError.self)
                #expect(record.errorId == error.id, "the record names the error id the caller got", sourceLocation: sourceLocation)
            }
            return reply
        }
    }

    @Test func everyStateChangingOperationLeavesExactlyOneRecord() async throws {
        var configuration = try await testConfiguration()
        configuration.allowSignup = true
        try await withServer(configuration) { api in
            let session = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
                .decode(SigninResult.self)
            let admin = api.as_(session.jwtToken)
            let audit = Auditor(admin: admin)
            audit.seen = try await audit.records().count
            let v = "/2022-09-01-00"

            let refreshed = try await audit.expect("POST \(v)/refresh-token", action: "session.refresh") {
                try await api.call(.post, "\(v)/refresh-token", json: RefreshTokenRequest(refreshToken: session.refreshToken ?? ""))
            }.decode(SigninResult.self)
            try await audit.expect("POST \(v)/signout", action: "session.signout") {
                try await admin.call(.post, "\(v)/signout", json: SignoutRequest(refreshToken: refreshed.refreshToken ?? ""))
            }
            try await audit.expect("POST \(v)/signin", action: "session.signin") {
                try await api.call(.post, "\(v)/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
            }
            // Sign-up makes another organization: its record is in that organization's log, not this one's.
            let signup = try await api.call(
                .post, "\(v)/signup", json: SignupRequest(name: "O", email: "o@other.test", password: "other-password", companyName: "Other"))
            #expect(signup.status == .ok)
            audit.covered.insert("POST \(v)/signup")
            let other = try await api.signIn("o@other.test", "other-password")
            let otherLog = try await other.call(.get, "\(v)/audit-log").decode(ListAuditRecordsResult.self).records
            #expect(otherLog.map(\.action) == ["session.signin", "organization.signup"])

            let userId = try await audit.expect("POST \(v)/user", action: "user.create") {
                try await admin.call(.post, "\(v)/user", json: CreateUserRequest(email: "ed@example.com", password: "editor-pass", role: "editor"))
            }.decode(String.self)
            let editorTargets = ["userId": userId]
            try await audit.expect("PATCH \(v)/user/{userId}", action: "user.update", targets: editorTargets) {
                try await admin.call(.patch, "\(v)/user/\(userId)", json: UpdateUserRequest(role: "viewer"))
            }
            let changes = try #require(try await audit.records().first?.changes)
            #expect(changes["role"] == AuditChangeResult(before: "editor", after: "viewer"))
            let viewer = try await api.signIn("ed@example.com", "editor-pass")
            audit.seen += 1  // the sign-in
            // A write refused for authorization is audited, with the viewer as actor and the error id.
            try await audit.expect("POST \(v)/service", action: "service.create", status: 403, actor: "ed@example.com") {
                try await viewer.call(.post, "\(v)/service", json: CreateServiceRequest(name: "nope"))
            }
            try await audit.expect("PATCH \(v)/user/{userId}", action: "user.disable", targets: editorTargets) {
                try await admin.call(.patch, "\(v)/user/\(userId)", json: UpdateUserRequest(disabled: true))
            }
            try await audit.expect("DELETE \(v)/user/{userId}", action: "user.delete", targets: editorTargets) {
                try await admin.call(.delete, "\(v)/user/\(userId)")
            }

            let service = try await audit.expect("POST \(v)/service", action: "service.create") {
                try await admin.call(.post, "\(v)/service", json: CreateServiceRequest(name: "db"))
            }.decode(String.self)
            #expect(try await audit.records().first?.targets["serviceId"] == service, "a created id is a target")
            let s = "\(v)/service/\(service)"
            let environment = try await audit.expect("POST \(v)/service/{serviceId}/environment", action: "service-environment.create") {
                try await admin.call(.post, "\(s)/environment", json: CreateServiceEnvironmentRequest(name: "prod"))
            }.decode(String.self)
            let tier = try await audit.expect("POST \(v)/service/{serviceId}/product-tier", action: "product-tier.create") {
                try await admin.call(.post, "\(s)/product-tier", json: CreateProductTierRequest(name: "basic", serviceEnvironmentId: environment))
            }.decode(String.self)
            let registry = try await audit.expect("POST \(v)/image-registry", action: "image-registry.create") {
                try await admin.call(.post, "\(v)/image-registry", json: CreateImageRegistryRequest(name: "ghcr", host: "ghcr.io", verifyImages: false))
            }.decode(String.self)
            try await audit.expect("PATCH \(v)/image-registry/{imageRegistryId}", action: "image-registry.update", targets: ["registryId": registry]) {
                try await admin.call(.patch, "\(v)/image-registry/\(registry)", json: UpdateImageRegistryRequest(username: "bot", password: "s3cret"))
            }
            let registryChanges = try #require(try await audit.records().first?.changes)
            #expect(registryChanges["password"] == AuditChangeResult(before: "(secret)", after: "(changed)"), "never a secret's value")
            let config = try await audit.expect("POST \(v)/service/{serviceId}/image-config", action: "image-config.create") {
                try await admin.call(
                    .post, "\(s)/image-config",
                    json: CreateImageConfigRequest(description: "app", imageName: "acme/app", serviceEnvironmentId: environment, imageTag: "1"))
            }.decode(String.self)
            let c = "\(s)/image-config/\(config)"
            let configTargets = ["serviceId": service, "imageConfigId": config]
            try await audit.expect("PATCH \(v)/service/{serviceId}/image-config/{id}", action: "image-config.update", targets: configTargets) {
                try await admin.call(.patch, c, json: UpdateImageConfigRequest(imageTag: "2"))
            }
            #expect(try await audit.records().first?.changes?["imageTag"] == AuditChangeResult(before: "1", after: "2"))
            try await audit.expect("POST \(v)/service/{serviceId}/image-config/{id}/release", action: "image-config.release", targets: configTargets) {
                try await admin.call(.post, "\(c)/release")
            }
            let instance = try await audit.expect(
                "POST \(v)/service/{serviceId}/environment/{environmentId}/instance", action: "instance.create"
            ) {
                try await admin.call(.post, "\(s)/environment/\(environment)/instance", json: RegisterInstanceRequest(productTierId: tier, name: "node-0"))
            }.decode(RegisterInstanceResult.self)
            try await audit.expect("PATCH \(v)/service/{serviceId}/image-config/{id}", action: "image-config.update") {
                try await admin.call(.patch, c, json: UpdateImageConfigRequest(imageTag: "3"))
            }
            try await audit.expect("POST \(v)/service/{serviceId}/image-config/{id}/release", action: "image-config.release") {
                try await admin.call(.post, "\(c)/release")
            }
            try await audit.expect("POST \(v)/service/{serviceId}/image-config/{id}/rollout", action: "rollout.create", targets: configTargets) {
                try await admin.call(.post, "\(c)/rollout", json: RolloutPolicyRequest(instanceTimeoutSeconds: 60))
            }
            #expect(try await audit.records().first?.targets["rolloutId"]?.hasPrefix("up-") == true, "the new rollout is a target")
            // Each steers the rollout or is refused for its state; either way, one record with the answer's status.
            for verb in ["pause", "resume", "cancel", "retry", "cancel"] {
                try await audit.expect("POST \(v)/service/{serviceId}/image-config/{id}/rollout/\(verb)", action: "rollout.\(verb)", status: nil) {
                    try await admin.call(.post, "\(c)/rollout/\(verb)")
                }
            }
            try await audit.expect("POST \(v)/service/{serviceId}/image-config/{id}/rollout/promote", action: "rollout.promote", status: nil) {
                try await admin.call(.post, "\(c)/rollout/promote")
            }
            try await audit.expect("POST \(v)/service/{serviceId}/image-config/{id}/rollout/target-version", action: "rollout.target-version", status: nil) {
                try await admin.call(.post, "\(c)/rollout/target-version", json: RetargetRolloutRequest(version: "1.0"))
            }
            try await audit.expect("POST \(v)/service/{serviceId}/image-config/{id}/rollout/skip", action: "rollout.skip", status: nil) {
                try await admin.call(.post, "\(c)/rollout/skip", json: SkipRolloutInstancesRequest(instanceIds: [instance.id]))
            }
            try await audit.expect(
                "PATCH \(v)/service/{serviceId}/environment/{environmentId}/instance/{instanceId}", action: "instance.update",
                targets: ["instanceId": instance.id]
            ) {
                try await admin.call(.patch, "\(s)/environment/\(environment)/instance/\(instance.id)", json: UpdateInstanceRequest(labels: ["region": "eu"]))
            }
            let sets = "\(s)/productTier/\(tier)/version-set"
            try await audit.expect("PATCH \(v)/service/{serviceId}/productTier/{productTierId}/version-set/{version}", action: "version-set.update") {
                try await admin.call(.patch, "\(sets)/1.0", json: UpdateTierVersionSetRequest(releaseNotes: "the first"))
            }
            try await audit.expect(
                "POST \(v)/service/{serviceId}/productTier/{productTierId}/version-set/{version}/promote", action: "version-set.promote"
            ) { try await admin.call(.post, "\(sets)/1.0/promote") }
            try await audit.expect(
                "POST \(v)/service/{serviceId}/productTier/{productTierId}/version-set/{version}/deprecate", action: "version-set.deprecate"
            ) { try await admin.call(.post, "\(sets)/2.0/deprecate") }
            let webhook = try await audit.expect("POST \(v)/webhook", action: "webhook.create") {
                try await admin.call(
                    .post, "\(v)/webhook", json: CreateWebhookRequest(url: "https://hooks.example.com/x", events: ["rollout.paused"], secret: "0123456789abcdef"))
            }.decode(String.self)
            #expect(try await audit.records().first?.targets["webhookId"] == webhook)
            try await audit.expect("DELETE \(v)/webhook/{webhookId}", action: "webhook.delete", targets: ["webhookId": webhook]) {
                try await admin.call(.delete, "\(v)/webhook/\(webhook)")
            }
            let spare = try await admin.call(
                .post, "\(s)/environment/\(environment)/instance", json: RegisterInstanceRequest(productTierId: tier, name: "spare")
            ).decode(RegisterInstanceResult.self)
            audit.seen += 1
            try await audit.expect(
                "DELETE \(v)/service/{serviceId}/environment/{environmentId}/instance/{instanceId}", action: "instance.delete",
                targets: ["instanceId": spare.id]
            ) { try await admin.call(.delete, "\(s)/environment/\(environment)/instance/\(spare.id)") }
            try await audit.expect("DELETE \(v)/service/{serviceId}/image-config/{id}", action: "image-config.delete", status: nil, targets: configTargets) {
                try await admin.call(.delete, c)
            }
            _ = instance
            // Deleting the rest, on a service without instances.
            let spareService = try await admin.create("\(v)/service", CreateServiceRequest(name: "spare"))
            let o = "\(v)/service/\(spareService)"
            let otherEnvironment = try await admin.create("\(o)/environment", CreateServiceEnvironmentRequest(name: "dev"))
            let otherTier = try await admin.create("\(o)/product-tier", CreateProductTierRequest(name: "t", serviceEnvironmentId: otherEnvironment))
            audit.seen += 3
            try await audit.expect("DELETE \(v)/image-registry/{imageRegistryId}", action: "image-registry.delete") {
                try await admin.call(.delete, "\(v)/image-registry/\(registry)")
            }
            try await audit.expect("DELETE \(v)/service/{serviceId}/product-tier/{productTierId}", action: "product-tier.delete") {
                try await admin.call(.delete, "\(o)/product-tier/\(otherTier)")
            }
            try await audit.expect("DELETE \(v)/service/{serviceId}/environment/{serviceEnvironmentId}", action: "service-environment.delete") {
                try await admin.call(.delete, "\(o)/environment/\(otherEnvironment)")
            }
            try await audit.expect("DELETE \(v)/service/{serviceId}", action: "service.delete", targets: ["serviceId": spareService]) {
                try await admin.call(.delete, o)
            }
            // A second session for the password change, which ends this one.
            let fresh = try await api.signIn()
            audit.seen += 1
            let changed = try await fresh.call(
                .post, "\(v)/user/password", json: ChangePasswordRequest(currentPassword: adminPassword, newPassword: "changed-password"))
            #expect(changed.status == .ok)
            // Every session ended with the change: read on with the new one.
            audit.admin = api.as_(try changed.decode(SigninResult.self).jwtToken)
            let last = try #require(try await audit.records().first)
            #expect(last.action == "user.password-change" && last.changes?["password"] == AuditChangeResult(before: "(secret)", after: "(changed)"))
            audit.covered.insert("POST \(v)/user/password")

            // Agents' reports are not audited one by one; every other state-changing operation was exercised.
            let missing = try Self.mutatingOperations().subtracting(audit.covered).subtracting(["POST /agent/v1/report"])
            #expect(missing.isEmpty, "operations without an audit check: \(missing.sorted())")
        }
    }

    @Test func theLogIsFilteredPagedAndCannotBeChanged() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            for index in 0..<5 { _ = try await admin.create("/2022-09-01-00/service", CreateServiceRequest(name: "s\(index)")) }
            _ = try await admin.create("/2022-09-01-00/user", CreateUserRequest(email: "vi@example.com", password: "viewer-pass", role: "viewer"))
            let viewer = try await api.signIn("vi@example.com", "viewer-pass")
            try await viewer.call(.get, "/2022-09-01-00/audit-log").expectError(
                .forbidden, "forbidden", message: "only an admin may do this; user vi@example.com has role viewer")

            let page = try await admin.call(.get, "/2022-09-01-00/audit-log?action=service.create&pageSize=3").decode(ListAuditRecordsResult.self)
            #expect(page.records.count == 3 && page.records.allSatisfy { $0.action == "service.create" })
            let token = try #require(page.nextPageToken)
            let rest = try await admin.call(.get, "/2022-09-01-00/audit-log?action=service.create&pageSize=3&nextPageToken=\(token)")
                .decode(ListAuditRecordsResult.self)
            #expect(rest.records.count == 2 && rest.nextPageToken == nil)
            let all = page.records + rest.records
            #expect(all.map(\.at) == all.map(\.at).sorted(by: >), "newest first")
            let target = try #require(all.last?.targets["serviceId"])
            #expect(try await admin.call(.get, "/2022-09-01-00/audit-log?target=\(target)").decode(ListAuditRecordsResult.self).records.count == 1)
            let sessions = try await admin.call(.get, "/2022-09-01-00/audit-log?action=session.").decode(ListAuditRecordsResult.self).records
            #expect(Set(sessions.map(\.action)) == ["session.signin"])
            let byViewer = try await admin.call(.get, "/2022-09-01-00/audit-log?actor=vi@example.com").decode(ListAuditRecordsResult.self).records
            #expect(byViewer.map(\.action) == ["session.signin"])
            let future = try await admin.call(.get, "/2022-09-01-00/audit-log?since=2100-01-01T00:00:00Z").decode(ListAuditRecordsResult.self)
            #expect(future.records.isEmpty)
            // Any RFC 3339 time: fractional seconds, an offset, lower-case separators; an empty value is no filter.
            for since in ["2100-01-01T00:00:00.25Z", "2100-01-01T05:30:00%2B05:30", "2100-01-01t00:00:00z", "2100-01-01T20:18:00%2B20:18"] {
                let reply = try await admin.call(.get, "/2022-09-01-00/audit-log?since=\(since)")
                #expect(try reply.decode(ListAuditRecordsResult.self).records.isEmpty, "\(since): \(reply.body)")
            }
            #expect(try await admin.call(.get, "/2022-09-01-00/audit-log?since=&until=").decode(ListAuditRecordsResult.self).records.count > 0)
            try await admin.call(.get, "/2022-09-01-00/audit-log?since=yesterday").expectError(
                .badRequest, "bad_request", message: "since must be an RFC 3339 time such as 2026-12-01T00:00:00Z, got 'yesterday'")
            for method in [HTTPRequest.Method.patch, HTTPRequest.Method.delete, HTTPRequest.Method.put, HTTPRequest.Method.post] {
                let reply = try await admin.call(method, "/2022-09-01-00/audit-log", body: "{}")
                reply.expectError(.methodNotAllowed, "method_not_allowed")
                #expect(reply.headers[.allow] == "GET")
            }
        }
    }
}
