import Foundation
import NIOSSL
import PostgresNIO

/// What a `postgres://user:password@host:port/database?sslmode=…` URL asks for.
///
/// Understood query parameters: `sslmode` (`disable`, `prefer` (the default, as libpq), `require`, `verify-ca`,
/// `verify-full`), `sslrootcert` (a PEM file of trusted roots for the verify modes), `connect_timeout` (seconds,
/// default 5) and `pool_size` (connections this process opens at most, default 16).
public struct PostgresOptions: Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: String
    public var rootCertificatePath: String?
    public var connectTimeout: Int
    public var poolSize: Int

    /// `host:port/database`, for messages: never the password.
    public var displayName: String { "\(host):\(port)/\(database)" }

    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public init(url text: String) throws {
        guard Self.isPostgresURL(text), let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
            throw StoreOpeningError("'\(Self.redacted(text))' is not a PostgreSQL URL; expected postgres://user:password@host:port/database")
        }
        self.host = host
        port = components.port ?? 5432
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw StoreOpeningError("the PostgreSQL URL names no user; expected postgres://user:password@host:port/database")
        }
        username = user
        password = components.percentEncodedPassword?.removingPercentEncoding
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : (path.removingPercentEncoding ?? path)
        var parameters: [String: String] = [:]
        for item in components.queryItems ?? [] { parameters[item.name] = item.value ?? "" }
        sslMode = parameters.removeValue(forKey: "sslmode") ?? "prefer"
        guard ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(sslMode) else {
            throw StoreOpeningError("sslmode must be one of disable, prefer, require, verify-ca, verify-full; got '\(sslMode)'")
        }
        rootCertificatePath = parameters.removeValue(forKey: "sslrootcert")
        connectTimeout = try Self.positive(parameters.removeValue(forKey: "connect_timeout"), name: "connect_timeout", default: 5)
        poolSize = try Self.positive(parameters.removeValue(forKey: "pool_size"), name: "pool_size", default: 16)
        if let unknown = parameters.keys.sorted().first {
            throw StoreOpeningError(
                "unknown PostgreSQL URL parameter '\(unknown)'; understood: sslmode, sslrootcert, connect_timeout, pool_size")
        }
    }

    private static func positive(_ text: String?, name: String, default value: Int) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), number > 0, number <= 10_000 else {
            throw StoreOpeningError("\(name) must be a whole number from 1 to 10000; got '\(text)'")
        }
        return number
    }

    /// The URL with its password replaced, for messages and logs.
    public static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "xxxxx"
        return components.string ?? "postgres://…"
    }

    /// The connection settings postgres-nio takes.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: try tls())
        configuration.options.connectTimeout = .seconds(Int64(connectTimeout))
        return configuration
    }

    private func tls() throws -> PostgresConnection.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case "disable": return .disable
        case "verify-ca": tls.certificateVerification = .noHostnameVerification
        case "verify-full": tls.certificateVerification = .fullVerification
        default: tls.certificateVerification = .none
        }
        if let rootCertificatePath {
            guard FileManager.default.isReadableFile(atPath: rootCertificatePath) else {
                throw StoreOpeningError("sslrootcert '\(rootCertificatePath)' cannot be read; name a PEM file of the CA that signed PostgreSQL's certificate")
            }
            tls.trustRoots = .file(rootCertificatePath)
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw StoreOpeningError("sslrootcert '\(rootCertificatePath ?? "")' is not a PEM file of certificates: \(error)")
        }
        return ["allow", "prefer"].contains(sslMode) ? .prefer(context) : .require(context)
    }
}

/// Why a store could not be opened: a message for the operator, never a stack trace.
public struct StoreOpeningError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
