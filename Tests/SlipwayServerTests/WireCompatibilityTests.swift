import Foundation
import Hummingbird
import SlipwayWire
import Testing

@testable import SlipwayServer

/// Requests replayed byte for byte as the official Go SDK sends them, and its rules for decoding the answers.
@Suite("Wire compatibility with the Go SDK")
struct WireCompatibilityTests {
    static let userAgent = "OpenAPI-Generator/1.0.0/go"

    static func goHeaders(token: String?, accept: String, json: Bool) -> HTTPFields {
        var headers: HTTPFields = [.userAgent: userAgent, .accept: accept]
        if json { headers[.contentType] = "application/json" }
        if let token { headers[.authorization] = "Bearer \(token)" }
        return headers
    }

    @Test func theEightOperationsAsTheGoSDKSendsThem() async throws {
        try await withServer { api in
            // Signin: compact JSON with a trailing newline, as Go's json.Encoder writes it.
            let signin = try await api.call(
                .post, "/2022-09-01-00/signin", body: "{\"email\":\"\(adminEmail)\",\"password\":\"\(adminPassword)\"}\n",
                headers: Self.goHeaders(token: nil, accept: "application/json", json: true))
            #expect(signin.status == .ok)
            #expect(signin.headers[.contentType] == "application/json")
            let token = try signin.decode(SigninResult.self).jwtToken
            let admin = api.as_(token)
            let fixture = try await Fixture.make(admin)
            let go = { (accept: String, json: Bool) in Self.goHeaders(token: token, accept: accept, json: json) }

            // Create: a bare JSON string.
            let create = try await api.call(
                .post, "/2022-09-01-00/service/\(fixture.serviceId)/image-config",
                body: "{\"description\":\"cache\",\"imageName\":\"redis\",\"serviceEnvironmentId\":\"\(fixture.environmentId)\"}\n",
                headers: go("application/json", true))
            #expect(create.status == .ok)
            #expect(create.headers[.contentType] == "application/json")
            #expect(create.body.hasPrefix("\"imgc-") && create.body.hasSuffix("\""))
            let id = try create.decode(String.self)
            let path = "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(id)"

            // Describe: every required field present, even the empty ones.
            let describe = try await api.call(.get, path, headers: go("application/json", false))
            #expect(describe.status == .ok)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(describe.body.utf8)) as? [String: Any])
            for key in ["description", "id", "imageName", "imageRegistryId", "imageTag", "serviceEnvironmentId", "serviceId"] {
                #expect(object[key] is String, "missing \(key) in \(describe.body)")
            }
            #expect(object["imageTag"] as? String == "latest")

            // Update, Release, Delete: Accept application/vnd.goa.error, empty 200 bodies.
            let update = try await api.call(.patch, path, body: "{\"imageTag\":\"7.2\"}\n", headers: go("application/vnd.goa.error", true))
            #expect(update.status == .ok && update.body.isEmpty)
            let release = try await api.call(.post, "\(path)/release", body: "{}\n", headers: go("application/vnd.goa.error", true))
            #expect(release.status == .ok && release.body.isEmpty)
            let list = try await api.call(
                .get, "/2022-09-01-00/service/\(fixture.serviceId)/serviceenvironment/\(fixture.environmentId)/image-config",
                headers: go("application/json", false))
            #expect(try list.decode(ListImageConfigsResult.self).ids == [fixture.imageConfigId, id])

            // Errors on either Accept value: all six goa fields, as application/json.
            let again = try await api.call(.post, "\(path)/release", body: "{}\n", headers: go("application/vnd.goa.error", true))
            again.expectError(.conflict, "invalid_state", containing: "nothing changed")
            let missing = try await api.call(.get, path + "x", headers: go("application/json", false))
            missing.expectError(.notFound, "not_found", message: "image config \(id)x not found")

            // Delete after the tier is gone (the release pins it until then).
            _ = try await admin.call(.delete, "/2022-09-01-00/service/\(fixture.serviceId)/product-tier/\(fixture.productTierId)")
            let delete = try await api.call(.delete, path, headers: go("application/vnd.goa.error", false))
            #expect(delete.status == .ok && delete.body.isEmpty)
        }
    }

    @Test func unknownRoutesAndMethodsAreGoaErrors() async throws {
        try await withServer { api in
            try await api.call(.get, "/2022-09-01-00/nothing-here").expectError(
                .notFound, "not_found", message: "no operation GET /2022-09-01-00/nothing-here; the API is described at /openapi.yaml")
            try await api.call(.get, "/2022-09-01-00/service/s-1/image-config/imgc-1/nothing").expectError(
                .notFound, "not_found", message: "no operation GET /2022-09-01-00/service/s-1/image-config/imgc-1/nothing; the API is described at /openapi.yaml")
        }
    }

    /// A path that exists answers 405 with `Allow` for a method it does not have, before any authentication.
    @Test func methodsAPathDoesNotHaveAre405WithAllow() async throws {
        try await withServer { api in
            func expect405(_ method: HTTPRequest.Method, _ path: String, allow: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let reply = try await api.call(method, path)
                reply.expectError(
                    .methodNotAllowed, "method_not_allowed",
                    message: "no operation \(method.rawValue) \(path); \(path) answers \(allow) (the API is described at /openapi.yaml)",
                    sourceLocation: sourceLocation)
                #expect(reply.headers[.allow] == allow, sourceLocation: sourceLocation)
            }
            try await expect405(.put, "/healthz", allow: "GET")
            try await expect405(.trace, "/openapi.yaml", allow: "GET")
            let head = try await api.call(.head, "/healthz")  // the same, without a body
            #expect(head.status == .methodNotAllowed && head.headers[.allow] == "GET")
            try await expect405(.options, "/2022-09-01-00/signin", allow: "POST")
            try await expect405(.delete, "/2022-09-01-00/service", allow: "GET, POST")
            try await expect405(.put, "/2022-09-01-00/service/s-1/image-config/imgc-1", allow: "DELETE, GET, PATCH")
            try await expect405(.patch, "/2022-09-01-00/service/s-1/image-config/imgc-1/rollout", allow: "GET, POST")
            // A literal segment wins over a parameter, as in routing: /user/password is not /user/{userId}.
            try await expect405(.delete, "/2022-09-01-00/user/password", allow: "POST")
            try await expect405(.get, "/2022-09-01-00/user/u-1", allow: "DELETE, PATCH")
            try await expect405(.get, "/agent/v1/report", allow: "POST")
            // Signed in, the same answers.
            let signedIn = try await api.signIn()
            let reply = try await signedIn.call(.trace, "/2022-09-01-00/service")
            reply.expectError(.methodNotAllowed, "method_not_allowed", containing: "answers GET, POST")
            #expect(reply.headers[.allow] == "GET, POST")
        }
    }

    @Test func serverFaultsHideTheirCause() {
        struct DiskOnFire: Error {}
        let request = Request(
            head: .init(method: .get, scheme: "http", authority: "127.0.0.1", path: "/x"), body: .init(buffer: ByteBuffer()))
        let (status, body, cause) = APIErrorMiddleware<SlipwayRequestContext>.goaError(for: DiskOnFire(), request: request)
        #expect(status == .internalServerError)
        #expect(body.name == "failed_request")
        #expect(body.fault)
        #expect(body.message.contains(body.id))
        #expect(!body.message.contains("DiskOnFire"))
        #expect(cause?.contains("DiskOnFire") == true)
    }

    @Test func healthAndTheServedSpec() async throws {
        try await withServer { api in
            let health = try await api.call(.get, "/healthz")
            #expect(health.status == .ok)
            #expect(health.body == "{\"status\":\"ok\"}")
            let spec = try await api.call(.get, "/openapi.yaml")
            #expect(spec.status == .ok)
            #expect(spec.headers[.contentType] == "application/yaml")
            #expect(spec.body.hasPrefix("# Slipway's own OpenAPI document"))
            for operation in [
                "image-config-api#CreateImageConfig", "image-config-api#DescribeImageConfig", "image-config-api#ListImageConfigs",
                "image-config-api#UpdateImageConfig", "image-config-api#DeleteImageConfig", "image-config-api#ReleaseImageConfig",
                "image-config-api#RolloutFleetImageConfig", "image-config-api#RolloutFleetImageStatus", "signin-api#Signin",
            ] {
                #expect(spec.body.contains("operationId: \(operation)"), "\(operation)")
            }
        }
    }

    @Test func theServedSpecIsTheFileByteForByte() async throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/SlipwayServer/OpenAPI/openapi.yaml")
        let onDisk = try String(contentsOf: file, encoding: .utf8)
        try await withServer { api in
            let spec = try await api.call(.get, "/openapi.yaml")
            #expect(spec.body == onDisk)
        }
    }
}
