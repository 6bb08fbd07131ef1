import ArgumentParser
import AsyncHTTPClient
import Foundation
import Slipway
import SlipwayRegistry

/// `slipway-agent`: runs beside a deployed instance, pulls its desired state and applies it.
@main
struct SlipwayAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway-agent",
        abstract: "Applies the images Slipway wants this instance to run, through your own apply command.",
        discussion: """
            For each image config whose image changed, runs the apply command with /bin/sh -c and these variables: \
            SLIPWAY_IMAGE (registry/name:tag, with @sha256:… when the release pinned a digest: deploy exactly that), \
            SLIPWAY_IMAGE_DIGEST (the pinned digest, or empty), SLIPWAY_IMAGE_CONFIG_ID, SLIPWAY_TIER_VERSION, SLIPWAY_COMMANDS and \
            SLIPWAY_ARGS (JSON arrays), SLIPWAY_INSTANCE_ID, SLIPWAY_GENERATION. Exit status 0 means applied. For each image config \
            it applied before that the new state no longer has, runs the remove command, if any, with SLIPWAY_IMAGE_CONFIG_ID and \
            SLIPWAY_IMAGE (what it ran). Then runs the health command, if any, and reports. The token may also come from \
            SLIPWAY_AGENT_TOKEN; with --verify, registry credentials from SLIPWAY_REGISTRY_USERNAME and SLIPWAY_REGISTRY_PASSWORD.
            """)

    @Option(help: "The Slipway server, e.g. http://127.0.0.1:8080.")
    var server: String

    @Option(help: "The instance's agent token (or SLIPWAY_AGENT_TOKEN).")
    var token: String?

    @Option(help: "Shell command that applies one image.")
    var applyCommand: String

    @Option(help: "Shell command that exits 0 when the instance is healthy.")
    var healthCommand: String?

    @Option(help: "Shell command that removes one image config's image when a new desired state no longer has it.")
    var removeCommand: String?

    @Flag(
        help: """
            Before applying an image whose image config has a public key, check its cosign signature in the registry here \
            (not only on the server); report FAILED when it does not verify.
            """)
    var verify = false

    @Option(help: "Directory where the agent remembers what it applied.")
    var stateDir: String = "./slipway-agent-state"

    @Flag(help: "Allow a plain http:// server that is not on this machine (the token would cross the network in the clear).")
    var insecure = false

    @Option(help: "PEM file of the CA that signed an https:// server's certificate (default: the system's roots).")
    var caFile: String?

    @Option(help: "PEM client certificate, for a server started with --agent-ca (needs --client-key).")
    var clientCert: String?

    @Option(help: "PEM private key of --client-cert.")
    var clientKey: String?

    @Option(help: "Seconds each long-poll may wait for a change (0 to 60).")
    var wait: Int = 30

    mutating func validate() throws {
        guard (0...60).contains(wait) else { throw ValidationError("--wait must be from 0 to 60 seconds") }
        guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
            throw ValidationError("--server must be an http:// or https:// URL")
        }
        if let refusal = ServerAddress.plainHTTPRefusal(server, insecure: insecure) { throw ValidationError(refusal) }
        if (clientCert == nil) != (clientKey == nil) {
            throw ValidationError(clientCert == nil ? "--client-key needs --client-cert" : "--client-cert needs --client-key")
        }
        if token == nil, ProcessInfo.processInfo.environment["SLIPWAY_AGENT_TOKEN"]?.isEmpty ?? true {
            throw ValidationError("pass --token or set SLIPWAY_AGENT_TOKEN")
        }
    }

    func run() async throws {
        let token = self.token ?? ProcessInfo.processInfo.environment["SLIPWAY_AGENT_TOKEN"] ?? ""
        let directory = URL(fileURLWithPath: stateDir, isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let environment = ProcessInfo.processInfo.environment
        let verifier = verify
            ? SignatureCheck(
                client: RegistryClient(), username: environment["SLIPWAY_REGISTRY_USERNAME"], password: environment["SLIPWAY_REGISTRY_PASSWORD"])
            : nil
        let tls = ClientTLS(caFile: caFile, clientCertificateFile: clientCert, clientKeyFile: clientKey)
        let http: HTTPClient
        do {
            http = try tls.sharedHTTPClient()
        } catch let error as ClientTLSError {
            throw ValidationError(error.description)
        }
        let agent = Agent(
            client: AgentClient(serverURL: server, agentToken: token, httpClient: http),
            applyCommand: applyCommand, healthCommand: healthCommand, removeCommand: removeCommand, verifier: verifier,
            stateFile: directory.appendingPathComponent("state.json"), wait: wait)
        try await agent.run()
    }
}

/// The agent's loop: poll, apply what changed, check health, report; retry with backoff while the server is away.
struct Agent {
    let client: AgentClient
    let applyCommand: String
    let healthCommand: String?
    let removeCommand: String?
    let verifier: SignatureCheck?
    let stateFile: URL
    let wait: Int

    func log(_ message: String) {
        FileHandle.standardError.write(Data("slipway-agent: \(message)\n".utf8))
    }

    func run() async throws {
        var state = try AgentState.load(from: stateFile)
        // The last decision may not have reached the server before a restart: say it again.
        if let last = state.lastReport { try await send(last) }
        var etag: String?
        var failures = 0
        while !Task.isCancelled {
            do {
                switch try await client.desiredState(etag: etag, wait: wait) {
                case .unchanged:
                    break
                case .changed(let desired, let newETag):
                    if desired.generation != state.generation {
                        try await apply(desired, state: &state)
                    }
                    // Only once the state is handled: a poll with this ETag would never show it again.
                    etag = newETag
                }
                failures = 0
            } catch let error as SlipwayClientError where error.status == 401 {
                throw AgentError("the server refused the agent token: \(error.message)")
            } catch {
                failures += 1
                let delay = backoff(failures)
                log("cannot reach the server (\(error)); retrying in \(String(format: "%.1f", delay)) s")
                try await Task.sleep(for: .seconds(delay))
            }
        }
    }

    /// Applies one desired state: one apply run per image that changed, saving after each so none runs twice.
    func apply(_ desired: DesiredStateResult, state: inout AgentState) async throws {
        log("applying generation \(desired.generation) (tier version \(desired.tierVersion))")
        do {
            try await client.report(AgentReportRequest(tierVersion: desired.tierVersion, status: "APPLYING", generation: desired.generation))
        } catch {
            // Informational only: the outcome report that follows is the one that must arrive.
            log("could not report APPLYING (\(error)); applying anyway")
        }
        for image in desired.images {
            let wanted = AgentState.Applied(image: image.image, commands: image.commands, args: image.args)
            if state.applied[image.imageConfigId] == wanted { continue }
            if let verifier {
                do {
                    try await verifier.check(image)
                } catch let error as RegistryError {
                    let message = "refusing to apply \(image.image): \(error.message)"
                    try await finish(desired, state: &state, status: "FAILED", message: message, health: nil)
                    return
                }
            }
            let outcome = try await ShellCommand.run(
                applyCommand,
                environment: [
                    "SLIPWAY_IMAGE": image.image, "SLIPWAY_IMAGE_DIGEST": image.imageDigest ?? "", "SLIPWAY_IMAGE_CONFIG_ID": image.imageConfigId,
                    "SLIPWAY_TIER_VERSION": desired.tierVersion,
                    "SLIPWAY_COMMANDS": Self.json(image.commands ?? []), "SLIPWAY_ARGS": Self.json(image.args ?? []),
                    "SLIPWAY_INSTANCE_ID": desired.instanceId, "SLIPWAY_GENERATION": String(desired.generation),
                ])
            guard outcome.succeeded else {
                let message = "apply command exited \(outcome.exitCode) for \(image.image): \(outcome.output)"
                try await finish(desired, state: &state, status: "FAILED", message: message, health: nil)
                return
            }
            state.applied[image.imageConfigId] = wanted
            try state.save(to: stateFile)
        }
        let current = Set(desired.images.map(\.imageConfigId))
        for (imageConfigId, applied) in state.applied.sorted(by: { $0.key < $1.key }) where !current.contains(imageConfigId) {
            if let removeCommand {
                let outcome = try await ShellCommand.run(
                    removeCommand,
                    environment: [
                        "SLIPWAY_IMAGE": applied.image, "SLIPWAY_IMAGE_CONFIG_ID": imageConfigId, "SLIPWAY_TIER_VERSION": desired.tierVersion,
                        "SLIPWAY_INSTANCE_ID": desired.instanceId, "SLIPWAY_GENERATION": String(desired.generation),
                    ])
                guard outcome.succeeded else {
                    let message = "remove command exited \(outcome.exitCode) for image config \(imageConfigId) (\(applied.image)): \(outcome.output)"
                    try await finish(desired, state: &state, status: "FAILED", message: message, health: nil)
                    return
                }
            }
            state.applied[imageConfigId] = nil
            try state.save(to: stateFile)
        }
        if let healthCommand {
            let health = try await ShellCommand.run(healthCommand, environment: ["SLIPWAY_TIER_VERSION": desired.tierVersion])
            guard health.succeeded else {
                try await finish(
                    desired, state: &state, status: "FAILED", message: "health command exited \(health.exitCode): \(health.output)",
                    health: "unhealthy")
                return
            }
        }
        try await finish(desired, state: &state, status: "SUCCEEDED", message: nil, health: "healthy")
    }

    /// Records the outcome of a generation durably, then reports it.
    private func finish(_ desired: DesiredStateResult, state: inout AgentState, status: String, message: String?, health: String?) async throws {
        state.generation = desired.generation
        state.lastReport = .init(generation: desired.generation, tierVersion: desired.tierVersion, status: status, message: message, health: health)
        try state.save(to: stateFile)
        log("generation \(desired.generation): \(status)\(message.map { " — \($0)" } ?? "")")
        try await send(state.lastReport!)
    }

    /// Sends a report, retrying with backoff until the server takes it.
    private func send(_ report: AgentState.Report) async throws {
        var failures = 0
        while true {
            do {
                try await client.report(
                    AgentReportRequest(
                        tierVersion: report.tierVersion, status: report.status, message: report.message, health: report.health,
                        generation: report.generation))
                return
            } catch let error as SlipwayClientError where error.status == 401 {
                throw AgentError("the server refused the agent token: \(error.message)")
            } catch {
                failures += 1
                try await Task.sleep(for: .seconds(backoff(failures)))
            }
        }
    }

    /// Exponential backoff from 0.25 s to 5 s, with jitter so a fleet does not retry in step.
    private func backoff(_ failures: Int) -> Double {
        let base = min(5.0, 0.25 * pow(2.0, Double(min(failures, 10) - 1)))
        return base * Double.random(in: 0.5...1.0)
    }

    static func json(_ list: [String]) -> String {
        (try? JSONEncoder().encode(list)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    }
}

/// `--verify`: the agent's own check of an image's cosign signature against the registry, so an instance
/// need not trust the path between the control plane and itself.
struct SignatureCheck {
    let client: RegistryClient
    let username: String?
    let password: String?

    /// Passes an image without a public key (there is nothing to check); an image with one must carry the
    /// digest the release pinned, signed by that key.
    func check(_ image: AgentImage) async throws {
        guard let key = image.imageSignaturePublicKeyPEM else { return }
        guard let digest = image.imageDigest else {
            throw RegistryError(
                .signatureInvalid,
                "the release pinned no digest for \(image.image) (its registry is not verified), so there is no signed digest to check")
        }
        let access = RegistryAccess(host: image.registryHost, insecure: image.registryInsecure ?? false, username: username, password: password)
        try await client.verifySignature(access, repository: image.imageName, digest: digest, publicKeyPEM: key)
    }
}
