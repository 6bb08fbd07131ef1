import ArgumentParser
import Foundation
import Slipway

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign in and keep the token in ~/.config/slipway/credentials (mode 0600).",
        discussion: "The password comes from SLIPWAY_PASSWORD, from standard input with --password-stdin, or from a prompt.")

    @Option(help: "The Slipway server, e.g. http://127.0.0.1:8080 (or SLIPWAY_URL).")
    var url: String?

    @Option(help: "Your email.")
    var email: String

    @Flag(help: "Read the password from standard input.")
    var passwordStdin = false

    @Flag(help: "Allow a plain http:// server that is not on this machine (the password would cross the network in the clear).")
    var insecure = false

    @Option(help: "PEM file of the CA that signed an https:// server's certificate, kept for later commands (SLIPWAY_CA_FILE).")
    var caFile: String?

    func run() async throws {
        guard let url = url ?? ProcessInfo.processInfo.environment["SLIPWAY_URL"] else {
            throw CLIError.usage("pass --url (or set SLIPWAY_URL) to say which server to sign in to")
        }
        if let refusal = ServerAddress.plainHTTPRefusal(url, insecure: insecure) { throw CLIError.usage(refusal) }
        let password: String
        if let fromEnvironment = ProcessInfo.processInfo.environment["SLIPWAY_PASSWORD"] {
            password = fromEnvironment
        } else if passwordStdin || isatty(STDIN_FILENO) == 0 {
            password = readLine(strippingNewline: true) ?? ""
        } else {
            password = getpass("Password for \(email): ").map { String(cString: $0) } ?? ""
        }
        let caFile = (caFile ?? ProcessInfo.processInfo.environment["SLIPWAY_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 })
            .map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let client = SlipwayClient(serverURL: url, httpClient: try cliHTTPClient(caFile: caFile))
        let session = try await client.signIn(email: email, password: password)
        try StoredCredentials(url: url, email: email, token: session.jwtToken, refreshToken: session.refreshToken, caFile: caFile).save()
        print("Signed in to \(url) as \(email).")
    }
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "End the session on the server and forget the stored credentials.")

    func run() async throws {
        if let stored = try StoredCredentials.load(), let refresh = stored.refreshToken {
            // Best effort: an expired session or an unreachable server still leaves this machine signed out.
            let http = (try? cliHTTPClient(caFile: stored.caFile)) ?? SlipwayClient.sharedHTTPClient
            try? await SlipwayClient(serverURL: stored.url, credentials: .token(stored.token), httpClient: http).signOut(refreshToken: refresh)
        }
        try StoredCredentials.remove()
        print("Signed out.")
    }
}
