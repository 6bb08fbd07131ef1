import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import Logging
import SlipwayCore
import SlipwayTestSupport
import SlipwayWire
import Testing

@testable import SlipwayServer

/// The admin that every test server starts with.
let adminEmail = "admin@example.com"
let adminPassword = "admin-password-1"

/// An executable of this package, built next to the test bundle.
func builtProduct(_ name: String) -> URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
}

/// A fresh database: a SQLite path in a temporary directory or, when the suite runs on PostgreSQL
/// (`SLIPWAY_TEST_STORE=postgres`), an empty database on the tests' cluster.
func temporaryDatabase() async throws -> String {
    if TestPostgres.serverTestsUsePostgres { return try await TestPostgres.freshDatabase() }
    return temporarySQLiteFile()
}

/// A fresh SQLite path in a temporary directory.
func temporarySQLiteFile() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("slipway.sqlite").path
}

/// A test server configuration on a temporary database, listening on a free loopback port.
/// The key that seals registry passwords on test servers that share a PostgreSQL database (SQLite ones make a key file).
let testSecretKey = "2ItnHR1pKv0tYDgx0dUO2LwN1qz9Y9fWbT0bDMNnEw8="
/// The key that signs access tokens on those servers: every replica verifies the others' tokens.
let testJWTSecret = "slipway-test-replicas-share-this-signing-secret"

func testConfiguration(database: String? = nil) async throws -> ServerConfiguration {
    var configuration = ServerConfiguration()
    configuration.hostname = "127.0.0.1"
    configuration.port = 0
    if let database { configuration.database = database } else { configuration.database = try await temporaryDatabase() }
    if configuration.database.hasPrefix("postgres") {
        configuration.secretKey = testSecretKey
        configuration.jwtSecret = testJWTSecret
    }
    configuration.adminEmail = adminEmail
    configuration.adminPassword = adminPassword
    return configuration
}

/// Runs `body` against a real slipwayd listening on 127.0.0.1, driven over real HTTP by AsyncHTTPClient (a
/// minute per request: with every suite running at once, sign-ins queue for the PBKDF2 threads).
func withServer<Value: Sendable>(
    _ configuration: ServerConfiguration? = nil, logHandler: (@Sendable (String) -> any LogHandler)? = nil,
    _ body: @Sendable (APIClient) async throws -> Value
) async throws -> Value {
    let configuration = if let configuration { configuration } else { try await testConfiguration() }
    var logger = logHandler.map { Logger(label: "slipwayd", factory: $0) } ?? Logger(label: "slipwayd")
    logger.logLevel = logHandler == nil ? .critical : .info
    let (ports, portContinuation) = AsyncStream<Int>.makeStream()
    let app = ReportingPort(base: try await buildApplication(configuration, logger: logger), report: { portContinuation.yield($0) })
    let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            // A server that cannot start ends the wait for its port.
            defer { portContinuation.finish() }
            try await services.run()
        }
        var reported = ports.makeAsyncIterator()
        guard let port = await reported.next() else {
            try await group.waitForAll()
            throw ServerDidNotStart()
        }
        do {
            let value = try await body(APIClient(baseURL: "http://127.0.0.1:\(port)"))
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return value
        } catch {
            await services.triggerGracefulShutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}

struct ServerDidNotStart: Error {}

/// A response as the tests look at it.
struct Reply: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: String

    func decode<T: Decodable>(_ type: T.Type = T.self, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.utf8))
        } catch {
            Issue.record("could not decode \(T.self) from \(status.code) \(body): \(error)", sourceLocation: sourceLocation)
            throw error
        }
    }

    /// Asserts a goa error with this status, name and message (exact, or containing `containing`).
    func expectError(
        _ status: HTTPResponse.Status, _ name: String, message: String? = nil, containing: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(self.status == status, "status of \(body)", sourceLocation: sourceLocation)
        #expect(headers[.contentType] == "application/json", sourceLocation: sourceLocation)
        guard let error = try? JSONDecoder().decode(GoaError.self, from: Data(body.utf8)) else {
            Issue.record("not a goa error body: \(body)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.name == name, sourceLocation: sourceLocation)
        #expect(error.id.count >= 8, sourceLocation: sourceLocation)
        #expect(error.fault == (name == "failed_request" || name == "service_unavailable"), sourceLocation: sourceLocation)
        #expect(error.temporary == (name == "service_unavailable" || name == "too_many_requests"), sourceLocation: sourceLocation)
        if let message { #expect(error.message == message, sourceLocation: sourceLocation) }
        if let containing { #expect(error.message.contains(containing), "message: \(error.message)", sourceLocation: sourceLocation) }
        // Every field goa defines is present, including the booleans.
        let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        for key in ["name", "id", "message", "temporary", "timeout", "fault"] {
            #expect(object[key] != nil, "missing \(key) in \(body)", sourceLocation: sourceLocation)
        }
    }
}

/// A small API client with a bearer token, over the test framework's client or AsyncHTTPClient.
struct APIClient: Sendable {
    typealias Transport = @Sendable (HTTPRequest.Method, String, HTTPFields, ByteBuffer?) async throws -> Reply
    let transport: Transport
    /// The server's base URL, for agents.
    let serverURL: String
    var token: String?

    /// Over AsyncHTTPClient, to a server in this process or another.
    init(baseURL: String, token: String? = nil) {
        transport = { method, path, headers, body in
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = .init(rawValue: method.rawValue)
            for field in headers { request.headers.add(name: field.name.rawName, value: field.value) }
            if let body { request.body = .bytes(body) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
            var fields = HTTPFields()
            for (name, value) in response.headers { if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) } }
            let bytes = try await response.body.collect(upTo: 16 << 20)
            return Reply(status: HTTPResponse.Status(code: Int(response.status.code)), headers: fields, body: String(buffer: bytes))
        }
        serverURL = baseURL
        self.token = token
    }

    private init(transport: @escaping Transport, serverURL: String, token: String?) {
        self.transport = transport
        self.serverURL = serverURL
        self.token = token
    }

    /// The same client signed in as another user.
    func as_(_ token: String?) -> APIClient { APIClient(transport: transport, serverURL: serverURL, token: token) }

    /// Sends a request; `body` goes out verbatim.
    func call(_ method: HTTPRequest.Method, _ path: String, body: String? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        var headers = headers
        if let token, headers[.authorization] == nil { headers[.authorization] = "Bearer \(token)" }
        if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await transport(method, path, headers, body.map { ByteBuffer(string: $0) })
    }

    /// Sends `value` as JSON.
    func call(_ method: HTTPRequest.Method, _ path: String, json value: some Encodable) async throws -> Reply {
        try await call(method, path, body: String(decoding: try JSONEncoder().encode(value), as: UTF8.self))
    }

    /// Signs in and returns a client carrying the token.
    func signIn(_ email: String = adminEmail, _ password: String = adminPassword, sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> APIClient
    {
        let reply = try await call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: email, password: password))
        #expect(reply.status == .ok, "sign-in failed: \(reply.body)", sourceLocation: sourceLocation)
        return as_(try reply.decode(SigninResult.self).jwtToken)
    }

    /// Creates something and returns the id the server answered with.
    func create(_ path: String, _ value: some Encodable, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let reply = try await call(.post, path, json: value)
        #expect(reply.status == .ok, "create \(path) failed: \(reply.body)", sourceLocation: sourceLocation)
        return try reply.decode(String.self)
    }
}

/// A service with an environment, a product tier and an image config, made through the API.
struct Fixture: Sendable {
    var serviceId: String
    var environmentId: String
    var productTierId: String
    var imageConfigId: String

    var imageConfigPath: String { "/2022-09-01-00/service/\(serviceId)/image-config/\(imageConfigId)" }

    static func make(_ api: APIClient, name: String = "postgres") async throws -> Fixture {
        let serviceId = try await api.create("/2022-09-01-00/service", CreateServiceRequest(name: name, description: "a database"))
        let environmentId = try await api.create(
            "/2022-09-01-00/service/\(serviceId)/environment", CreateServiceEnvironmentRequest(name: "prod", type: "prod"))
        let productTierId = try await api.create(
            "/2022-09-01-00/service/\(serviceId)/product-tier", CreateProductTierRequest(name: "basic", serviceEnvironmentId: environmentId))
        let imageConfigId = try await api.create(
            "/2022-09-01-00/service/\(serviceId)/image-config",
            CreateImageConfigRequest(description: "the database", imageName: "library/postgres", serviceEnvironmentId: environmentId, imageTag: "16.0"))
        return Fixture(serviceId: serviceId, environmentId: environmentId, productTierId: productTierId, imageConfigId: imageConfigId)
    }
}

/// Collects log lines, to read what the server told its operator.
final class CapturedLogs: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var all: [String] { lock.withLock { lines } }

    func append(_ line: String) { lock.withLock { lines.append(line) } }

    func handler(label: String) -> any LogHandler { CapturingLogHandler(logs: self) }
}

struct CapturingLogHandler: LogHandler {
    let logs: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        logs.append("\(event.level) \(event.message) " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}
