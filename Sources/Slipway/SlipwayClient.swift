import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
@_exported import SlipwayWire

/// The typed async client of the Slipway API: the Image Config API operations, sign-in, and Slipway's extensions.
///
/// ```swift
/// let slipway = SlipwayClient(serverURL: "http://127.0.0.1:8080", credentials: .password(email: "ops@example.com", password: "…"))
/// let id = try await slipway.createImageConfig(serviceId: "s-…", CreateImageConfigRequest(description: "db", imageName: "postgres", serviceEnvironmentId: "se-…"))
/// ```
public final class SlipwayClient: Sendable {
    /// How the client authenticates.
    public enum Credentials: Sendable {
        /// No credentials: only sign-in, sign-up and health work.
        case none
        /// A bearer token from an earlier sign-in; used as is.
        case token(String)
        /// Signs in on first use and renews the token before it expires.
        case password(email: String, password: String)
    }

    /// When and how often idempotent calls are retried.
    public struct RetryPolicy: Sendable {
        /// Attempts in all, the first included.
        public var maxAttempts: Int
        /// The delay before the first retry; it doubles each time, with jitter.
        public var initialDelay: Duration
        /// The longest delay between two attempts.
        public var maxDelay: Duration

        /// Creates a policy; by default 4 attempts, a 200 ms first delay and a 5 s cap.
        public init(maxAttempts: Int = 4, initialDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5)) {
            self.maxAttempts = maxAttempts
            self.initialDelay = initialDelay
            self.maxDelay = maxDelay
        }

        /// 4 attempts, waiting from 200 ms up to 5 s between them.
        public static let `default` = RetryPolicy()
        /// A single attempt: never retries.
        public static let none = RetryPolicy(maxAttempts: 1)
    }

    /// The base URL, e.g. `http://127.0.0.1:8080`.
    public let serverURL: String
    let http: HTTPClient
    let session: Session
    let retry: RetryPolicy
    let timeout: TimeAmount

    /// The HTTP client every SlipwayClient shares unless given another. A connection that cannot be made fails at
    /// once rather than being retried inside the pool, so the retry policy above is the one that applies.
    public static let sharedHTTPClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: sharedConfiguration)

    static var sharedConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10))
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// Creates a client of the server at `serverURL`; `timeout` bounds each request (60 s by default).
    public init(
        serverURL: String, credentials: Credentials = .none, httpClient: HTTPClient = SlipwayClient.sharedHTTPClient, retry: RetryPolicy = .default,
        timeout: Duration = .seconds(60)
    ) {
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        http = httpClient
        session = Session(credentials: credentials)
        self.retry = retry
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
    }

    /// The bearer token in use, signing in first if needed.
    public func currentToken() async throws -> String? {
        try await session.bearer(using: self)
    }

    // MARK: Transport

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// One call: authenticates, sends, maps errors, retries idempotent calls on temporary failures.
    func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String?)] = [], body: Data? = nil, authenticated: Bool = true,
        idempotent: Bool? = nil
    ) async throws -> Answer {
        let retriable = idempotent ?? [.GET, .HEAD, .DELETE, .PUT].contains(method)
        var attempt = 1
        var renewedAfter401 = false
        while true {
            do {
                let token = authenticated ? try await session.bearer(using: self) : nil
                let answer = try await sendOnce(method, path, query: query, body: body, token: token)
                if answer.status == 401, authenticated, !renewedAfter401, await session.canSignInAgain {
                    // The token may have been revoked or expired early: sign in again, once.
                    renewedAfter401 = true
                    await session.forget()
                    continue
                }
                guard (200..<300).contains(answer.status) || answer.status == 304 else { throw Self.error(from: answer) }
                return answer
            } catch let error as SlipwayClientError where retriable && error.isRetryable && attempt < retry.maxAttempts {
                try await Task.sleep(for: delay(attempt))
                attempt += 1
            }
        }
    }

    private func sendOnce(_ method: HTTPMethod, _ path: String, query: [(String, String?)], body: Data?, token: String?) async throws -> Answer {
        var request = HTTPClientRequest(url: serverURL + path + Self.queryString(query))
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "slipway-swift-sdk")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        do {
            let response = try await http.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: 64 << 20)
            return Answer(status: Int(response.status.code), headers: response.headers, body: bytes)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw SlipwayClientError(kind: .transport, message: "\(error)", temporary: true, timeout: true)
        } catch {
            throw SlipwayClientError(kind: .transport, message: "\(error)", temporary: true)
        }
    }

    private func delay(_ attempt: Int) -> Duration {
        let base = retry.initialDelay * (1 << min(attempt - 1, 10))
        let capped = min(base, retry.maxDelay)
        return capped * Double.random(in: 0.5...1.0)
    }

    static func error(from answer: Answer) -> SlipwayClientError {
        if let goa = try? JSONDecoder().decode(GoaError.self, from: Data(buffer: answer.body)) {
            return SlipwayClientError(status: answer.status, error: goa)
        }
        return SlipwayClientError(kind: .invalidResponse, status: answer.status, message: String(buffer: answer.body).prefix(200).description)
    }

    static func queryString(_ query: [(String, String?)]) -> String {
        let pairs = query.compactMap { name, value in value.map { "\(name)=\(percentEncode($0))" } }
        return pairs.isEmpty ? "" : "?" + pairs.joined(separator: "&")
    }

    static func percentEncode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    static func segment(_ value: String) -> String { percentEncode(value) }

    // MARK: JSON helpers

    func get<T: Decodable>(_ path: String, query: [(String, String?)] = [], as type: T.Type = T.self) async throws -> T {
        try decode(try await send(.GET, path, query: query))
    }

    func post<T: Decodable>(_ path: String, _ body: some Encodable, authenticated: Bool = true, as type: T.Type = T.self) async throws -> T {
        try decode(try await send(.POST, path, body: try JSONEncoder().encode(body), authenticated: authenticated))
    }

    func postEmpty(_ path: String, _ body: (some Encodable)?) async throws {
        _ = try await send(.POST, path, body: try body.map { try JSONEncoder().encode($0) })
    }

    func decode<T: Decodable>(_ answer: Answer) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: answer.body))
        } catch {
            throw SlipwayClientError(kind: .invalidResponse, status: answer.status, message: "cannot decode \(T.self): \(error)")
        }
    }
}

/// The client's token, renewed before it expires when the client signs in with a password.
actor Session {
    private let credentials: SlipwayClient.Credentials
    private var token: String?
    private var refreshToken: String?
    private var expiresAt: Date?
    private var renewal: Task<String, Error>?

    init(credentials: SlipwayClient.Credentials) {
        self.credentials = credentials
        if case .token(let token) = credentials {
            self.token = token
            expiresAt = Self.expiry(of: token)
        }
    }

    var canSignInAgain: Bool {
        if case .password = credentials { return true }
        return false
    }

    func forget() {
        token = nil
        expiresAt = nil
    }

    /// Records a session from sign-in or refresh.
    func store(_ result: SigninResult) {
        token = result.jwtToken
        refreshToken = result.refreshToken
        expiresAt = Self.expiry(of: result.jwtToken)
    }

    func bearer(using client: SlipwayClient) async throws -> String? {
        if let token, let expiresAt, expiresAt.timeIntervalSinceNow > 60 { return token }
        if let token, expiresAt == nil { return token }
        guard case .password(let email, let password) = credentials else { return token }
        if let renewal { return try await renewal.value }
        let refresh = refreshToken
        let task = Task { () throws -> String in
            if let refresh, let renewed = try? await client.refreshToken(refresh) {
                return try self.accept(renewed)
            }
            let result: SigninResult = try await client.post(
                "/2022-09-01-00/signin", SigninRequest(email: email, password: password), authenticated: false)
            return try self.accept(result)
        }
        renewal = task
        defer { renewal = nil }
        return try await task.value
    }

    private func accept(_ result: SigninResult) throws -> String {
        store(result)
        return result.jwtToken
    }

    /// The `exp` claim of a JWT, without verifying it (the server does that).
    static func expiry(of jwt: String) -> Date? {
        let parts = jwt.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let exp = object["exp"] as? Double
        else { return nil }
        return Date(timeIntervalSince1970: exp)
    }
}

extension SlipwayClient {
    /// When a bearer token expires (its `exp` claim), if it says.
    public static func expiry(ofToken token: String) -> Date? { Session.expiry(of: token) }
}
