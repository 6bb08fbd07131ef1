import AsyncHTTPClient
import Foundation
import Slipway
import SlipwayServer
import SlipwayTestSupport
import Testing

/// slipwayd over HTTPS with a throwaway CA (scripts/test-certs.sh): the SDK, the CLI and the agent trust it with
/// `--ca-file`, HTTP/2 is spoken to clients that offer it, and with `--agent-ca` agents must present a client
/// certificate from that CA while other clients need none.
@Suite("HTTPS", .timeLimit(.minutes(3)))
struct TLSTests {
    /// The certificates, made once per test in a directory of their own.
    static func certificates() async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-certs-\(UUID().uuidString)")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/test-certs.sh").standardized
        let (status, output) = try await runToEnd(script, [directory.path])
        guard status == 0 else { throw RawSocketError("scripts/test-certs.sh failed: \(output)") }
        return directory
    }

    static func tlsConfiguration(_ certs: URL, agentCA: Bool) async throws -> ServerConfiguration {
        var configuration = try await testConfiguration()
        configuration.tls = TLSFiles(
            certificateChain: certs.appendingPathComponent("server.pem").path, privateKey: certs.appendingPathComponent("server.key").path,
            agentCA: agentCA ? certs.appendingPathComponent("agent-ca.pem").path : nil)
        return configuration
    }

    /// Runs `body` with an HTTP client of this trust, shut down afterwards whatever happens.
    static func withHTTPClient<Value: Sendable>(_ tls: ClientTLS, _ body: (HTTPClient) async throws -> Value) async throws -> Value {
        let http = try tls.makeHTTPClient()
        do {
            let value = try await body(http)
            try await http.shutdown()
            return value
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    static func httpsURL(_ api: APIClient) -> String { api.serverURL.replacingOccurrences(of: "http://", with: "https://") }

    @Test func theSDKAndTheCLITrustTheServerThroughCAFileAndHTTP2IsOffered() async throws {
        let certs = try await Self.certificates()
        let ca = certs.appendingPathComponent("ca.pem").path
        try await withServer(try await Self.tlsConfiguration(certs, agentCA: false)) { api in
            let url = Self.httpsURL(api)
            try await Self.withHTTPClient(ClientTLS(caFile: ca)) { http in
            let sdk = SlipwayClient(serverURL: url, credentials: .password(email: adminEmail, password: adminPassword), httpClient: http, retry: .none)
            let serviceId = try await sdk.createService(CreateServiceRequest(name: "over-tls", description: "made over HTTPS"))
            #expect(try await sdk.listServices().services.map(\.id).contains(serviceId))

            // Without the CA the server's certificate is not trusted, and the SDK says so.
            let untrusting = SlipwayClient(serverURL: url, credentials: .password(email: adminEmail, password: adminPassword), retry: .none)
            await #expect(throws: SlipwayClientError.self) { _ = try await untrusting.listServices() }

            // A client that offers HTTP/2 gets it; one that offers only HTTP/1.1 is served too.
            for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
                let curl = try await Self.curl([flag, "--cacert", ca, "-o", "/dev/null", "-w", "%{http_version}", url + "/healthz"])
                #expect(curl == version, "\(flag): \(curl)")
            }

            // The CLI: --ca-file at login is kept for the commands after it.
            var cli = try CLI()
            cli.environment["SLIPWAY_PASSWORD"] = adminPassword
            let refused = try await cli.run(["login", "--url", url, "--email", adminEmail])
            #expect(refused.status != 0)
            let badCA = try await cli.run(["login", "--url", url, "--email", adminEmail, "--ca-file", "/nonexistent/ca.pem"])
            #expect(badCA.status == 2)
            #expect(badCA.stderr.contains("--ca-file /nonexistent/ca.pem: cannot read PEM certificates from it"), "\(badCA.stderr)")
            _ = try await cli.ok(["login", "--url", url, "--email", adminEmail, "--ca-file", ca])
            let listed = try await cli.ok(["service", "list"])
            #expect(listed.contains("over-tls"), "\(listed)")
            }
        }
    }

    @Test func withAgentCAAgentsMustPresentItsCertificateAndOthersNeedNone() async throws {
        let certs = try await Self.certificates()
        let path = { @Sendable (name: String) in certs.appendingPathComponent(name).path }
        try await withServer(try await Self.tlsConfiguration(certs, agentCA: true)) { api in
            let url = Self.httpsURL(api)
            try await Self.withHTTPClient(ClientTLS(caFile: path("ca.pem"))) { http in
            // Users need no certificate.
            let sdk = SlipwayClient(serverURL: url, credentials: .password(email: adminEmail, password: adminPassword), httpClient: http, retry: .none)
            let serviceId = try await sdk.createService(CreateServiceRequest(name: "fleet"))
            let environmentId = try await sdk.createEnvironment(serviceId: serviceId, CreateServiceEnvironmentRequest(name: "prod"))
            let productTierId = try await sdk.createProductTier(
                serviceId: serviceId, CreateProductTierRequest(name: "basic", serviceEnvironmentId: environmentId))
            let configId = try await sdk.createImageConfig(
                serviceId: serviceId, CreateImageConfigRequest(description: "app", imageName: "acme/app", serviceEnvironmentId: environmentId))
            try await sdk.releaseImageConfig(serviceId: serviceId, id: configId)
            let instance = try await sdk.registerInstance(
                serviceId: serviceId, environmentId: environmentId, RegisterInstanceRequest(productTierId: productTierId, name: "node-1"))

            // An agent without a certificate is refused with the reason.
            let bare = AgentClient(serverURL: url, agentToken: instance.agentToken, httpClient: http)
            do {
                _ = try await bare.desiredState(etag: nil, wait: 0)
                Issue.record("an agent without a client certificate was served")
            } catch let error as SlipwayClientError {
                #expect(error.status == 401)
                #expect(error.message.contains("this server requires agents to present a client certificate signed by its agent CA"), "\(error)")
            }
            // One from another CA does not get through the handshake.
            try await Self.withHTTPClient(
                ClientTLS(caFile: path("ca.pem"), clientCertificateFile: path("stranger.pem"), clientKeyFile: path("stranger.key"))
            ) { strangerHTTP in
                await #expect(throws: (any Error).self) {
                    _ = try await AgentClient(serverURL: url, agentToken: instance.agentToken, httpClient: strangerHTTP).desiredState(etag: nil, wait: 0)
                }
            }

            // The real agent with the agent CA's certificate applies and reports.
            let applied = certs.appendingPathComponent("applied")
            let agent = try AgentProcess(
                server: url, token: instance.agentToken, applyCommand: "true", healthCommand: "touch '\(applied.path)'",
                extraArguments: ["--ca-file", path("ca.pem"), "--client-cert", path("agent.pem"), "--client-key", path("agent.key")])
            defer { agent.stop() }
            try await eventually("the agent's report over HTTPS", within: 30) {
                try await sdk.describeInstance(serviceId: serviceId, environmentId: environmentId, id: instance.id).lastReport != nil
            }
            #expect(agent.output.isEmpty || !agent.output.contains("certificate"), "\(agent.output)")

            // The agent's flags are checked before it connects.
            let halfPair = try await Self.agent([
                "--server", url, "--token", "sat-x", "--apply-command", "true", "--client-cert", path("agent.pem"),
            ])
            #expect(halfPair.status == 64)
            #expect(halfPair.output.contains("--client-cert needs --client-key"), "\(halfPair.output)")
            }
        }
    }

    @Test func slipwaydRefusesUnusableTLSFilesAtStart() async throws {
        let certs = try await Self.certificates()
        let path = { @Sendable (name: String) in certs.appendingPathComponent(name).path }
        let cases: [([String], String)] = [
            (["--tls-cert", path("server.pem")], "--tls-cert needs --tls-key, the certificate's private key"),
            (["--tls-key", path("server.key")], "--tls-key and --agent-ca need --tls-cert: the server must serve HTTPS"),
            (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", path("server.key")], "--tls-cert /nonexistent/cert.pem: cannot read a PEM certificate chain from it"),
            (["--tls-cert", path("server.pem"), "--tls-key", path("agent.key")], "--tls-cert and --tls-key do not make a usable TLS configuration (is the key the certificate's?)"),
            (["--tls-cert", path("server.pem"), "--tls-key", path("server.key"), "--agent-ca", path("server.key")], "--agent-ca \(path("server.key")): cannot read PEM certificates from it"),
        ]
        for (arguments, message) in cases {
            let (status, text) = try await ServerProcess.run(["--port", "0", "--database", temporarySQLiteFile()] + arguments)
            #expect(status != 0, "\(arguments)")
            #expect(text.contains(message), "\(arguments): \(text)")
        }
    }

    static func curl(_ arguments: [String]) async throws -> String {
        try await runToEnd(URL(fileURLWithPath: "/usr/bin/curl"), ["-sS", "--max-time", "20"] + arguments).output
    }

    static func agent(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runToEnd(AgentProcess.executable, arguments)
    }
}
