import Foundation
import SlipwayCore
import Logging

/// Everything `slipwayd` can be told, from flags or the environment.
public struct ServerConfiguration: Sendable {
    public var hostname = "127.0.0.1"
    public var port = 8080
    /// A SQLite file path, or a `postgres://user:password@host:port/database` URL.
    public var database = "./slipway.sqlite"
    /// HMAC secret for bearer tokens, at least 32 bytes; when nil, the keys in `jwtKeyFile`.
    public var jwtSecret: String?
    /// The file of token signing keys; when nil, `<database>.jwt-keys` beside a SQLite database (made on first start).
    public var jwtKeyFile: String?
    /// Whether `POST /2022-09-01-00/signup` may create organizations.
    public var allowSignup = false
    /// Webhook URLs may point at loopback, private and link-local addresses (`--webhook-allow-private`).
    public var webhookAllowPrivate = false
    /// The first admin, created on an empty database.
    public var adminEmail: String?
    public var adminPassword: String?
    /// How long a bearer token is valid (at most a day: a token is trusted until it expires).
    public var tokenLifetime: TimeInterval = 3600
    /// The longest `tokenLifetime` allowed.
    public static let maximumTokenLifetime: TimeInterval = 86_400
    /// Audit records older than this many days are trimmed.
    public var auditRetentionDays = 365
    /// PBKDF2 rounds for new password hashes (at least 210,000).
    public var passwordRounds = 210_000
    /// Password hashes computed at once, and how many more may wait before sign-ins get 503.
    public var passwordHashingConcurrency = PasswordWork.defaultConcurrency
    public var passwordHashingQueue = 64
    /// Per-address and per-account limits on sign-in, sign-up and token refresh.
    public var abuseLimits = SignInThrottle.Limits()
    /// How long a connection may sit with no request before it is closed; longer than the longest long-poll.
    public var idleTimeout: Duration = .seconds(75)
    /// How long reading one request may take, from its first byte to the end of its body.
    public var requestReadTimeout: Duration = .seconds(30)
    /// Connections one client address may hold at once (IPv6: one /64). Raise it when many agents share a NAT address.
    public var maxConnectionsPerAddress = 1024
    /// Agent reports that may wait to be written before more are refused (503, temporary).
    public var maxWaitingReports = 20_000
    /// What each organization may hold.
    public var quotas = OrganizationQuotas()
    /// HTTPS (and HTTP/2) when set.
    public var tls: TLSFiles?
    /// When set, `GET /metrics` answers only `Authorization: Bearer <metricsToken>`; when nil, anyone who reaches
    /// the port if it listens on loopback only, and nobody otherwise.
    public var metricsToken: String?

    /// Whether the server listens on a loopback address only (`localhost`, `::1`, `127.x.y.z`).
    var listensOnLoopbackOnly: Bool {
        ["localhost", "::1"].contains(hostname) || hostname.hasPrefix("127.")
    }
    /// The key that seals registry passwords (32 bytes, base64 or hex); when nil, read from `secretKeyFile`.
    public var secretKey: String?
    /// The key file; when nil, `<database>.key` beside a SQLite database (created with mode 0600 on first start).
    public var secretKeyFile: String?
    /// How long each call to an image registry may take.
    public var registryTimeout: Duration = .seconds(10)
    /// The time every part of the server reads.
    public var clock: SlipwayClock = .system

    public init() {}
}

/// A configuration the server cannot start with; the message says what to change.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
