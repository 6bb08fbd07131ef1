import Crypto
import CryptoExtras
import Foundation
import SlipwayCore
import SlipwayWire
import Testing

@Suite("Bad input: every refusal is a 400 that names the field and the rule")
struct ValidationTests {
    static func create(_ api: APIClient, _ fixture: Fixture, _ body: String) async throws -> Reply {
        try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/image-config", body: body)
    }

    @Test func malformedBodies() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let env = fixture.environmentId
            try await Self.create(api, fixture, "{\"description\": ").expectError(.badRequest, "bad_request", message: "request body is not valid JSON")
            try await Self.create(api, fixture, "").expectError(.badRequest, "bad_request", message: "request body is missing: send a JSON object")
            try await Self.create(api, fixture, "[1,2]").expectError(.badRequest, "bad_request", message: "request body must be a JSON object")
            try await Self.create(api, fixture, "{\"imageName\":\"x\",\"serviceEnvironmentId\":\"\(env)\"}").expectError(
                .badRequest, "bad_request", message: "field 'description' is required")
            try await Self.create(api, fixture, "{\"description\":\"\",\"imageName\":5,\"serviceEnvironmentId\":\"\(env)\"}").expectError(
                .badRequest, "bad_request", message: "field 'imageName' must be a string")
            try await Self.create(api, fixture, "{\"description\":null,\"imageName\":\"x\",\"serviceEnvironmentId\":\"\(env)\"}").expectError(
                .badRequest, "bad_request", message: "field 'description' must be a string, not null")
            try await Self.create(
                api, fixture,
                "{\"description\":\"\",\"imageName\":\"x\",\"serviceEnvironmentId\":\"\(env)\",\"customImageCommandsAndArgs\":{\"args\":[1]}}"
            ).expectError(.badRequest, "bad_request", message: "field 'customImageCommandsAndArgs.args[0]' must be a string")
            let huge = "{\"description\":\"" + String(repeating: "a", count: 1 << 20) + "\"}"
            try await Self.create(api, fixture, huge).expectError(.badRequest, "bad_request", message: "request body is larger than the limit of 1048576 bytes (1 MiB)")
            // Unknown fields are accepted.
            let accepted = try await Self.create(
                api, fixture, "{\"description\":\"\",\"imageName\":\"x\",\"serviceEnvironmentId\":\"\(env)\",\"somethingNew\":{\"a\":1}}")
            #expect(accepted.status == .ok)
        }
    }

    @Test func imageNamesTagsAndSizes() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            func create(_ request: CreateImageConfigRequest) async throws -> Reply {
                try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/image-config", json: request)
            }
            let env = fixture.environmentId
            for name in ["Upper", "a b", "-lead", "trail-", "a//b", "a/", "x..y", "a___b"] {
                try await create(.init(description: "", imageName: name, serviceEnvironmentId: env)).expectError(
                    .badRequest, "bad_request", containing: "imageName '\(name)' is not a valid image name")
            }
            try await create(.init(description: "", imageName: "", serviceEnvironmentId: env)).expectError(
                .badRequest, "bad_request", message: "imageName must not be empty")
            try await create(.init(description: "", imageName: String(repeating: "a", count: 256), serviceEnvironmentId: env)).expectError(
                .badRequest, "bad_request", message: "imageName must be at most 255 bytes, got 256")
            for name in ["mysql", "library/mysql", "acme/api-server", "a.b_c__d---e/f0", "ghcr.io/acme/app"] {
                #expect(try await create(.init(description: "", imageName: name, serviceEnvironmentId: env)).status == .ok, "\(name)")
            }
            for tag in [".x", "-x", "a:b", String(repeating: "t", count: 129), ""] {
                try await create(.init(description: "", imageName: "app", serviceEnvironmentId: env, imageTag: tag)).expectError(
                    .badRequest, "bad_request", containing: "is not a valid tag")
            }
            #expect(try await create(.init(description: "", imageName: "app", serviceEnvironmentId: env, imageTag: "v1.2.3_rc-1")).status == .ok)
            try await create(.init(description: String(repeating: "d", count: 1025), imageName: "app", serviceEnvironmentId: env)).expectError(
                .badRequest, "bad_request", message: "description must be at most 1024 bytes, got 1025")
            try await create(
                .init(description: "", imageName: "app", serviceEnvironmentId: env, customImageCommandsAndArgs: .init(commands: Array(repeating: "x", count: 65)))
            ).expectError(.badRequest, "bad_request", message: "customImageCommandsAndArgs.commands must have at most 64 items, got 65")
            try await create(.init(description: "", imageName: "app", serviceEnvironmentId: "se-nope")).expectError(
                .notFound, "not_found", message: "service environment se-nope not found")
            try await create(.init(description: "", imageName: "app", serviceEnvironmentId: env, imageRegistryId: "ir-nope")).expectError(
                .notFound, "not_found", message: "image registry ir-nope not found")
            try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "bad tag")).expectError(
                .badRequest, "bad_request", containing: "imageTag 'bad tag' is not a valid tag")
            try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageRegistryId: "ir-nope")).expectError(
                .notFound, "not_found", message: "image registry ir-nope not found")
        }
    }

    @Test func publicKeys() async throws {
        let p256 = P256.Signing.PrivateKey().publicKey.pemRepresentation
        let p384 = P384.Signing.PrivateKey().publicKey.pemRepresentation
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey.pemRepresentation
        // Ed25519 SubjectPublicKeyInfo: the fixed DER prefix, then the 32-byte key.
        let ed25519DER = Data([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
            + Curve25519.Signing.PrivateKey().publicKey.rawRepresentation
        let ed25519 = "-----BEGIN PUBLIC KEY-----\n\(ed25519DER.base64EncodedString())\n-----END PUBLIC KEY-----\n"
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            for pem in [p256, p384, rsa, ed25519] {
                let reply = try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageSignaturePublicKeyPEM: pem))
                #expect(reply.status == .ok, "\(pem.prefix(40)): \(reply.body)")
                let described = try await api.call(.get, fixture.imageConfigPath).decode(DescribeImageConfigResult.self)
                #expect(described.imageSignaturePublicKeyPEM == pem)
            }
            let truncated = String(p256.dropLast(40))
            for bad in ["not a key", truncated, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"] {
                try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageSignaturePublicKeyPEM: bad)).expectError(
                    .badRequest, "bad_request", containing: "imageSignaturePublicKeyPEM does not parse as a PEM public key")
            }
            // An empty PEM removes the key.
            #expect(try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageSignaturePublicKeyPEM: "")).status == .ok)
            #expect(try await api.call(.get, fixture.imageConfigPath).decode(DescribeImageConfigResult.self).imageSignaturePublicKeyPEM == nil)
        }
    }

    @Test func resourcesAroundImageConfigs() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            try await api.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: " ")).expectError(
                .badRequest, "bad_request", message: "name must not be empty")
            try await api.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: "postgres")).expectError(
                .conflict, "invalid_state", message: "a service named 'postgres' already exists; choose another name")
            try await api.call(.post, "/2022-09-01-00/service", json: CreateServiceRequest(name: String(repeating: "n", count: 101))).expectError(
                .badRequest, "bad_request", message: "name must be at most 100 bytes, got 101")
            try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/environment", json: CreateServiceEnvironmentRequest(name: "x", type: "moon"))
                .expectError(.badRequest, "bad_request", message: "type must be one of dev, qa, staging, canary, prod, private, got 'moon'")
            try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/environment", json: CreateServiceEnvironmentRequest(name: "prod"))
                .expectError(.conflict, "invalid_state", containing: "already has an environment named 'prod'")
            try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/product-tier", json: CreateProductTierRequest(name: "t", serviceEnvironmentId: "se-x"))
                .expectError(.notFound, "not_found", message: "service environment se-x not found")
            try await api.call(.post, "/2022-09-01-00/image-registry", json: CreateImageRegistryRequest(name: "r", host: "not a host")).expectError(
                .badRequest, "bad_request", message: "host must be a registry host with an optional port, such as 'ghcr.io' or '127.0.0.1:5000'")
            try await api.call(.post, "/2022-09-01-00/image-registry", json: CreateImageRegistryRequest(name: "r", host: "127.0.0.1:70000")).expectError(
                .badRequest, "bad_request", message: "host has port 70000, outside 1 to 65535")
        }
    }

    /// A page token is `c1:` and 1 to 18 digits in canonical base64url, the pattern the served document states.
    @Test func pageTokensHaveOneFormat() async throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Sources/SlipwayServer/OpenAPI/openapi.yaml")
        let document = try String(contentsOf: file, encoding: .utf8)
        #expect(document.contains("pattern: '^\(PageToken.pattern)$'"))
        let format = try Regex("^" + PageToken.pattern + "$")
        for cursor: Int64 in [0, 7, 12, 123, 4567, 999_999_999_999_999_999] + (0..<200).map({ _ in .random(in: 0...999_999_999_999_999_999) }) {
            let token = PageToken.encode(cursor)
            #expect(try format.wholeMatch(in: token) != nil, "\(token)")
            #expect(try PageToken.decode(token) == cursor)
        }
        try await withServer { api in
            let api = try await api.signIn()
            #expect(try await api.call(.get, "/2022-09-01-00/service?nextPageToken=\(PageToken.encode(5))").status == .ok)
            // Garbage, no digits, 19 digits, padding, a sign, and non-canonical base64 (unused bits set).
            for token in ["garbage", "YzE6", PageToken.encode(1_000_000_000_000_000_000), PageToken.encode(5) + "=", "YzE6KzU", "YzE6MTJ", "YzE6NR"] {
                try await api.call(.get, "/2022-09-01-00/service?nextPageToken=\(token)").expectError(
                    .badRequest, "bad_request", message: "nextPageToken is not valid: pass the nextPageToken of the previous response unchanged")
            }
        }
    }

    /// Sizes count UTF-8 bytes: one letter with 10,000 combining marks is one character but 20,001 bytes.
    @Test func sizesCountBytesNotCharacters() async throws {
        let marked = "a" + String(repeating: "\u{0301}", count: 10_000)
        #expect(marked.count == 1)
        let atLimit = String(repeating: "\u{00E9}", count: 50)  // é, 2 bytes each: 100 bytes, 50 characters
        let clef = String(repeating: "\u{1D11E}", count: 25)  // 𝄞, 4 bytes each: 100 bytes
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let services = "/2022-09-01-00/service"
            try await api.call(.post, services, json: CreateServiceRequest(name: marked)).expectError(
                .badRequest, "bad_request", message: "name must be at most 100 bytes, got 20001")
            #expect(try await api.call(.post, services, json: CreateServiceRequest(name: atLimit)).status == .ok)
            #expect(try await api.call(.post, services, json: CreateServiceRequest(name: clef)).status == .ok)
            try await api.call(.post, services, json: CreateServiceRequest(name: atLimit + "x")).expectError(
                .badRequest, "bad_request", message: "name must be at most 100 bytes, got 101")
            try await api.call(.post, services, json: CreateServiceRequest(name: String(clef.dropLast()) + "\u{00E9}\u{00E9}\u{00E9}")).expectError(
                .badRequest, "bad_request", message: "name must be at most 100 bytes, got 102")
            try await api.call(.post, services, json: CreateServiceRequest(name: "m", description: marked)).expectError(
                .badRequest, "bad_request", message: "description must be at most 1024 bytes, got 20001")

            let env = fixture.environmentId
            let imageConfigs = "/2022-09-01-00/service/\(fixture.serviceId)/image-config"
            let description = String(repeating: "\u{00E9}", count: 512)
            #expect(try await api.call(.post, imageConfigs, json: CreateImageConfigRequest(description: description, imageName: "app", serviceEnvironmentId: env)).status == .ok)
            try await api.call(.post, imageConfigs, json: CreateImageConfigRequest(description: description + "x", imageName: "app", serviceEnvironmentId: env))
                .expectError(.badRequest, "bad_request", message: "description must be at most 1024 bytes, got 1025")
            try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(description: marked)).expectError(
                .badRequest, "bad_request", message: "description must be at most 1024 bytes, got 20001")
            let longArgument = String(repeating: "\u{00E9}", count: 2048) + "x"
            try await api.call(
                .post, imageConfigs,
                json: CreateImageConfigRequest(description: "", imageName: "app", serviceEnvironmentId: env, customImageCommandsAndArgs: .init(args: [longArgument]))
            ).expectError(.badRequest, "bad_request", message: "customImageCommandsAndArgs.args[0] must be at most 4096 bytes, got 4097")
            try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/environment", json: CreateServiceEnvironmentRequest(name: marked))
                .expectError(.badRequest, "bad_request", message: "name must be at most 100 bytes, got 20001")
            try await api.call(.post, "/2022-09-01-00/service/\(fixture.serviceId)/product-tier", json: CreateProductTierRequest(name: marked, serviceEnvironmentId: env))
                .expectError(.badRequest, "bad_request", message: "name must be at most 100 bytes, got 20001")
            try await api.call(.post, "/2022-09-01-00/image-registry", json: CreateImageRegistryRequest(name: marked, host: "ghcr.io")).expectError(
                .badRequest, "bad_request", message: "name must be at most 100 bytes, got 20001")
            // An echo of a bad value is cut to a few bytes, not a few characters.
            try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: marked)).expectError(
                .badRequest, "bad_request",
                message: "imageTag 'a" + String(repeating: "\u{0301}", count: 39)
                    + "' is not a valid tag: use 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
        }
    }
}

@Suite("What callers send cannot forge log lines or dodge decoding")
struct RequestHygieneTests {
    @Test func callerTextIsEscapedInTheLog() async throws {
        let logs = CapturedLogs()
        try await withServer(testConfiguration(), logHandler: { logs.handler(label: $0) }) { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let forged = "x\n2026-11-29T00:00:00+0000 notice slipwayd: FORGED admin login"
            let reply = try await api.call(
                .post, "/2022-09-01-00/service/\(fixture.serviceId)/image-config",
                json: CreateImageConfigRequest(description: "", imageName: forged, serviceEnvironmentId: fixture.environmentId))
            reply.expectError(.badRequest, "bad_request", containing: "is not a valid image name")
            let line = try #require(logs.all.first { $0.contains("error=bad_request") })
            #expect(!line.contains("\n"))
            #expect(line.contains("x\\n2026-11-29"))
        }
    }

    @Test func pathParametersArePercentDecoded() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            let encoded = fixture.imageConfigId.replacingOccurrences(of: "-", with: "%2D")
            let reply = try await api.call(.get, "/2022-09-01-00/service/\(fixture.serviceId)/image-config/\(encoded)")
            #expect(reply.status == .ok)
            #expect(try reply.decode(DescribeImageConfigResult.self).id == fixture.imageConfigId)
        }
    }
}
