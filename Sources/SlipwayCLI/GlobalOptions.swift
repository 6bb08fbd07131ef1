import ArgumentParser
import AsyncHTTPClient
import Foundation
import Slipway

/// Options every command takes: where the server is, who is calling, how to print.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The Slipway server (SLIPWAY_URL; default: from `slipway login`).")
    var url: String?

    @Option(help: "A bearer token (SLIPWAY_TOKEN; default: from `slipway login`).")
    var token: String?

    @Flag(help: "Print JSON instead of tables, for scripts.")
    var json = false

    @Flag(help: "Allow a plain http:// server that is not on this machine (tokens would cross the network in the clear).")
    var insecure = false

    @Option(help: "PEM file of the CA that signed an https:// server's certificate (SLIPWAY_CA_FILE; default: the system's roots).")
    var caFile: String?


    /// A client with the credentials in force: flags, then the environment, then the credentials file.
    func client() async throws -> SlipwayClient {
        let environment = ProcessInfo.processInfo.environment
        let stored = try StoredCredentials.load()
        guard let url = url ?? environment["SLIPWAY_URL"] ?? stored?.url else {
            throw CLIError.usage("no server: run `slipway login --url URL --email EMAIL`, or pass --url or SLIPWAY_URL")
        }
        if let refusal = ServerAddress.plainHTTPRefusal(url, insecure: insecure) { throw CLIError.usage(refusal) }
        let http = try cliHTTPClient(
            caFile: caFile ?? environment["SLIPWAY_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? (stored?.url == url ? stored?.caFile : nil))
        if let token = token ?? environment["SLIPWAY_TOKEN"] {
            return SlipwayClient(serverURL: url, credentials: .token(token), httpClient: http)
        }
        guard var stored, stored.url == url else {
            throw CLIError.usage("not signed in to \(url): run `slipway login --url \(url) --email EMAIL`, or pass --token or SLIPWAY_TOKEN")
        }
        if let expiry = SlipwayClient.expiry(ofToken: stored.token), expiry.timeIntervalSinceNow < 60 {
            // The stored token is about to expire: renew it with the refresh token, once, and keep the new pair.
            guard let refresh = stored.refreshToken,
                let renewed = try? await SlipwayClient(serverURL: url, httpClient: http).refreshToken(refresh)
            else { throw CLIError.usage("the session for \(url) has expired: run `slipway login` again") }
            stored.token = renewed.jwtToken
            stored.refreshToken = renewed.refreshToken
            try stored.save()
        }
        return SlipwayClient(serverURL: url, credentials: .token(stored.token), httpClient: http)
    }
}

/// The HTTP client for a server: the shared one, or one that trusts the CA in `caFile`.
func cliHTTPClient(caFile: String?) throws -> HTTPClient {
    guard let caFile else { return SlipwayClient.sharedHTTPClient }
    do {
        return try ClientTLS(caFile: caFile).sharedHTTPClient()
    } catch let error as ClientTLSError {
        throw CLIError.usage(error.description)
    }
}

/// `~/.config/slipway/credentials`, readable by its owner only.
struct StoredCredentials: Codable {
    var url: String
    var email: String
    var token: String
    var refreshToken: String?
    /// The CA file given at login, used for this server from then on.
    var caFile: String?

    static var file: URL {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CONFIG_HOME"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".config")
        return base.appendingPathComponent("slipway").appendingPathComponent("credentials")
    }

    static func load() throws -> StoredCredentials? {
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        do {
            return try JSONDecoder().decode(StoredCredentials.self, from: Data(contentsOf: file))
        } catch {
            throw CLIError.failure("cannot read \(file.path): \(error); run `slipway login` again")
        }
    }

    func save() throws {
        let file = Self.file
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let data = try JSONEncoder().encode(self)
        // Create it owner-only before anything is written, then replace the content.
        if !FileManager.default.fileExists(atPath: file.path) {
            FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        try data.write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
    }

    static func remove() throws {
        if FileManager.default.fileExists(atPath: file.path) { try FileManager.default.removeItem(at: file) }
    }
}
