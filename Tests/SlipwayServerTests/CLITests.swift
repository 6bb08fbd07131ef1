import Foundation
import SlipwayTestSupport
import Slipway
import Testing

@testable import SlipwayCLI

/// The built `slipway` binary, run as a process.
struct CLI {
    let home: URL
    var environment: [String: String] = [:]

    init() throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("cli-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary on a thread of its own: waiting on the process must not hold one of the few threads
    /// of Swift's concurrency pool, which the in-process server needs to answer that very process.
    func run(_ arguments: [String], stdin: String? = nil) async throws -> Result {
        try await onOwnThread { try runBlocking(arguments, stdin: stdin) }
    }

    private func runBlocking(_ arguments: [String], stdin: String?) throws -> Result {
        let process = Process()
        process.executableURL = builtProduct("slipway")
        process.arguments = arguments
        process.environment = ["HOME": home.path, "PATH": "/usr/bin:/bin"].merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Runs, expects success, returns stdout without the trailing newline.
    func ok(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await run(arguments)
        #expect(result.status == 0, "slipway \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        return result.stdout.trimmingCharacters(in: .newlines)
    }
}

@Suite("The slipway CLI, run as a process")
struct CLITests {
    /// A stored token close to its expiry is renewed with the stored refresh token (single use: the new
    /// pair is kept), and without one the CLI says to sign in again.
    @Test func aStoredSessionIsRenewedBeforeItExpires() async throws {
        var configuration = try await testConfiguration()
        configuration.tokenLifetime = 30  // always inside the CLI's one-minute renewal margin
        try await withServer(configuration) { api in
            let cli = try CLI()
            let login = try await cli.run(["login", "--url", api.serverURL, "--email", adminEmail, "--password-stdin"], stdin: adminPassword + "\n")
            #expect(login.status == 0, "\(login.stderr)")
            let file = cli.home.appendingPathComponent(".config/slipway/credentials")
            func stored() throws -> StoredCredentials { try JSONDecoder().decode(StoredCredentials.self, from: Data(contentsOf: file)) }
            var previous = try stored()
            for _ in 0..<2 {
                #expect(try await cli.ok(["service", "list", "--json"]).hasPrefix("["))
                let renewed = try stored()
                #expect(renewed.refreshToken != previous.refreshToken, "a refresh token is used once, then replaced")
                previous = renewed
            }

            var withoutRefresh = previous
            withoutRefresh.refreshToken = nil
            try JSONEncoder().encode(withoutRefresh).write(to: file)
            let expired = try await cli.run(["service", "list"])
            #expect(expired.status == 2)
            #expect(expired.stderr.contains("the session for \(api.serverURL) has expired: run `slipway login` again"), "\(expired.stderr)")
        }
    }

    /// An admin adds an editor, the editor works, the admin reads who did what, disables the editor, and the
    /// editor's next command is refused.
    @Test func usersAndTheAuditLogFromTheCommandLine() async throws {
        try await withServer { api in
            let admin = try CLI()
            let editor = try CLI()
            #expect(try await admin.run(["login", "--url", api.serverURL, "--email", adminEmail, "--password-stdin"], stdin: adminPassword + "\n").status == 0)
            let editorId = try await admin.ok(["user", "create", "--email", "ed@example.com", "--role", "editor", "--password", "editor-pass"])
            #expect(editorId.hasPrefix("u-"))
            #expect(try await editor.run(["login", "--url", api.serverURL, "--email", "ed@example.com", "--password-stdin"], stdin: "editor-pass\n").status == 0)
            let service = try await editor.ok(["service", "create", "--name", "pg"])
            let log = try await admin.ok(["audit", "list", "--actor", "ed@example.com"])
            #expect(log.contains("service.create") && log.contains("serviceId=\(service)"), "\(log)")
            #expect(log.contains("session.signin"))
            let users = try await admin.ok(["user", "list"])
            #expect(users.contains("ed@example.com") && users.contains("editor"))
            #expect(try await admin.ok(["user", "update", editorId, "--disable"]).contains("disabled"))
            let refused = try await editor.run(["service", "list"])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("user ed@example.com is disabled; ask an admin of your organization"), "\(refused.stderr)")
            let disabling = try await admin.ok(["audit", "list", "--action", "user.disable", "--json"])
            #expect(disabling.contains("\"userId\" : \"\(editorId)\"") || disabling.contains("\"userId\":\"\(editorId)\""), "\(disabling)")
            let both = try await admin.run(["user", "update", editorId, "--disable", "--enable"])
            #expect(both.status == 2 && both.stderr.contains("--disable and --enable exclude each other"))
        }
    }

    @Test func loginThenAServiceThroughToARollout() async throws {
        try await withServer { api in
            var cli = try CLI()
            // Usage errors exit 2, before any server is involved.
            let usage = try await cli.run(["service", "create"])
            #expect(usage.status == 2)
            #expect(usage.stderr.contains("Missing expected argument '--name <name>'"))
            let notSignedIn = try await cli.run(["service", "list"])
            #expect(notSignedIn.status == 2)
            #expect(notSignedIn.stderr.contains("no server: run `slipway login"))

            let login = try await cli.run(["login", "--url", api.serverURL, "--email", adminEmail, "--password-stdin"], stdin: adminPassword + "\n")
            #expect(login.status == 0, "\(login.stderr)")
            let file = cli.home.appendingPathComponent(".config/slipway/credentials")
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            let badLogin = try await cli.run(["login", "--url", api.serverURL, "--email", adminEmail, "--password-stdin"], stdin: "nope\n")
            #expect(badLogin.status == 1)
            #expect(badLogin.stderr.hasPrefix("error: wrong email or password (error id "))

            let service = try await cli.ok(["service", "create", "--name", "pg", "--description", "Postgres"])
            #expect(service.hasPrefix("s-"))
            let environment = try await cli.ok(["environment", "create", "--service", service, "--name", "prod", "--type", "prod"])
            let tier = try await cli.ok(["product-tier", "create", "--service", service, "--environment", environment, "--name", "basic"])
            let config = try await cli.ok(["image-config", "create", "--service", service, "--environment", environment, "--image", "acme/app", "--tag", "1"])
            #expect(config.hasPrefix("imgc-"))

            // Tables for people, JSON for scripts.
            let table = try await cli.ok(["service", "list"])
            #expect(table.split(separator: "\n").first?.hasPrefix("ID") == true)
            #expect(table.contains("pg") && table.contains("Postgres"))
            let json = try await cli.ok(["service", "list", "--json"])
            let services = try JSONDecoder().decode([ServiceResult].self, from: Data(json.utf8))
            #expect(services.map(\.id) == [service])
            let described = try JSONDecoder().decode(
                DescribeImageConfigResult.self, from: Data(try await cli.ok(["image-config", "describe", "--service", service, config, "--json"]).utf8))
            #expect(described.imageTag == "1")

            // API errors exit 1 with the server's message.
            let missing = try await cli.run(["service", "describe", "s-nope"])
            #expect(missing.status == 1)
            #expect(missing.stderr.hasPrefix("error: service s-nope not found (error id "))

            _ = try await cli.ok(["image-config", "release", "--service", service, config])
            let registered = try JSONDecoder().decode(
                RegisterInstanceResult.self,
                from: Data(
                    try await cli.ok(["instance", "register", "--service", service, "--environment", environment, "--product-tier", tier, "--name", "db-1", "--json"])
                        .utf8))
            let scripts = try ApplyScripts()
            let agent = try AgentProcess(server: api.serverURL, token: registered.agentToken, applyCommand: try scripts.script(name: "apply.sh"))
            defer { agent.stop() }

            // The whole "ship a new tag" flow in one command; not a terminal, so plain lines.
            let ship = try await cli.run(["image-config", "update", "--service", service, config, "--tag", "2", "--release", "--rollout", "--watch"])
            #expect(ship.status == 0, "\(ship.stdout)\(ship.stderr)")
            #expect(ship.stdout.contains("Updated \(config)."))
            #expect(ship.stdout.contains("Released \(config)."))
            #expect(ship.stdout.contains("COMPLETE wave 1/1: 1 completed, 0 failed, 0 in progress, 0 pending of 1"))
            #expect(ship.stdout.hasSuffix("complete: 1 instance(s) upgraded to 2.0\n"))
            #expect(!ship.stdout.contains("\u{1B}"), "no terminal control codes when stdout is not a terminal")
            #expect(scripts.runs(of: registered.id, image: "docker.io/acme/app:2") == 1)

            let versions = try await cli.ok(["version-set", "list", "--service", service, "--product-tier", tier])
            #expect(versions.contains("1.0") && versions.contains("2.0") && versions.contains("Preferred"))
            let instances = try await cli.ok(["rollout", "instances", "--service", service, config])
            #expect(instances.contains("COMPLETED"))

            // A rollout that fails: watch exits 3.
            let failing = try AgentProcess(
                server: api.serverURL,
                token: try JSONDecoder().decode(
                    RegisterInstanceResult.self,
                    from: Data(
                        try await cli.ok([
                            "instance", "register", "--service", service, "--environment", environment, "--product-tier", tier, "--name", "db-2", "--json",
                        ]).utf8)
                ).agentToken,
                applyCommand: try scripts.script(name: "fail.sh", failOnSuffix: ":3"))
            defer { failing.stop() }
            let failed = try await cli.run(["image-config", "update", "--service", service, config, "--tag", "3", "--release", "--rollout", "--watch"])
            #expect(failed.status == 3, "\(failed.stdout)\(failed.stderr)")
            #expect(failed.stdout.contains("FAILED"))
            // A strategy the server does not know: its message, exit 1.
            let unknown = try await cli.run(["rollout", "start", "--service", service, config, "--strategy", "sliding"])
            #expect(unknown.status == 1, "\(unknown.stdout)\(unknown.stderr)")
            #expect(unknown.stderr.contains(#"strategy must be "waves" or "window", got "sliding""#), "\(unknown.stderr)")

            // SLIPWAY_TOKEN overrides the stored credentials.
            cli.environment["SLIPWAY_URL"] = api.serverURL
            cli.environment["SLIPWAY_TOKEN"] = "not-a-token"
            let overridden = try await cli.run(["service", "list"])
            #expect(overridden.status == 1)
            #expect(overridden.stderr.contains("the bearer token is not a valid Slipway token"))
        }
    }

    @Test func labelsASelectorAWindowAndACanaryGateFromTheCommandLine() async throws {
        try await withServer { api in
            var cli = try CLI()
            _ = try await cli.run(["login", "--url", api.serverURL, "--email", adminEmail, "--password-stdin"], stdin: adminPassword + "\n")
            let service = try await cli.ok(["service", "create", "--name", "pg"])
            let environment = try await cli.ok(["environment", "create", "--service", service, "--name", "prod", "--type", "prod"])
            let tier = try await cli.ok(["product-tier", "create", "--service", service, "--environment", environment, "--name", "basic"])
            let config = try await cli.ok(["image-config", "create", "--service", service, "--environment", environment, "--image", "acme/app", "--tag", "1"])
            _ = try await cli.ok(["image-config", "release", "--service", service, config])
            var instances: [RegisterInstanceResult] = []
            for (name, labels) in [("db-1", "region=eu,tier=gold"), ("db-2", "region=us"), ("db-3", "region=us")] {
                let json = try await cli.ok([
                    "instance", "register", "--service", service, "--environment", environment, "--product-tier", tier, "--name", name, "--labels", labels,
                    "--json",
                ])
                instances.append(try JSONDecoder().decode(RegisterInstanceResult.self, from: Data(json.utf8)))
            }
            let relabelled = try await cli.ok(["instance", "label", "--service", service, "--environment", environment, instances[1].id, "--labels", "region=eu"])
            #expect(relabelled.contains("region=eu"))
            let listed = try await cli.ok(["instance", "list", "--service", service, "--environment", environment])
            #expect(listed.contains("region=eu,tier=gold") && listed.contains("LABELS"))
            let badLabels = try await cli.run(["instance", "label", "--service", service, "--environment", environment, instances[1].id, "--labels", "eu"])
            #expect(badLabels.status == 2 && badLabels.stderr.contains("labels must be key=value pairs separated by commas"), "\(badLabels.stderr)")

            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh")
            let agents = try instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
            defer { agents.forEach { $0.stop() } }
            try await eventually("every agent applied its first state") { scripts.runs.count == 3 }
            _ = try await cli.ok(["image-config", "update", "--service", service, config, "--tag", "2", "--release"])

            let badWindow = try await cli.run(["rollout", "start", "--service", service, config, "--maintenance-window", "22:00"])
            #expect(badWindow.status == 2 && badWindow.stderr.contains("--maintenance-window needs its times as HH:MM-HH:MM"), "\(badWindow.stderr)")
            let noInstance = try await cli.run(["rollout", "skip", "--service", service, config])
            #expect(noInstance.status == 2 && noInstance.stderr.contains("name at least one --instance to skip"), "\(noInstance.stderr)")

            // A window open now (an hour either side, in UTC), the EU instances only, a canary that waits.
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = .gmt
            func time(_ date: Date) -> String { String(format: "%02d:%02d", utc.component(.hour, from: date), utc.component(.minute, from: date)) }
            let window = "\(time(Date().addingTimeInterval(-3600)))-\(time(Date().addingTimeInterval(3600))) UTC"
            let started = try await cli.run([
                "rollout", "start", "--service", service, config, "--selector", "region=eu", "--canary", "1", "--pause-after-canary",
                "--maintenance-window", window,
            ])
            #expect(started.status == 0, "\(started.stderr)")
            func status() async throws -> RolloutStatusResult {
                try JSONDecoder().decode(RolloutStatusResult.self, from: Data(try await cli.ok(["rollout", "status", "--service", service, config, "--json"]).utf8))
            }
            try await eventually("the canary is done and the rollout waits for promote") { try await status().awaitingPromotion == true }
            let waiting = try await cli.ok(["rollout", "status", "--service", service, config])
            #expect(waiting.contains("waiting: slipway rollout promote"), "\(waiting)")
            #expect(try await status().policy.maintenanceWindow?.timeZone == "UTC")
            _ = try await cli.ok(["rollout", "promote", "--service", service, config])
            try await eventually("the rollout completes") { try await status().status == "COMPLETE" }
            #expect(scripts.runs(of: instances[0].id, image: "docker.io/acme/app:2") == 1)
            #expect(scripts.runs(of: instances[1].id, image: "docker.io/acme/app:2") == 1)
            #expect(scripts.runs(of: instances[2].id, image: "docker.io/acme/app:2") == 0)

            // Webhooks: a loopback URL is refused on a server without --webhook-allow-private.
            let refused = try await cli.run(["webhook", "create", "http://127.0.0.1:9/hook", "--events", "release", "--secret", "0123456789abcdef"])
            #expect(refused.status == 1 && refused.stderr.contains("points at a loopback address"), "\(refused.stderr)")
            let hook = try await cli.ok([
                "webhook", "create", "https://hooks.example.com/slipway", "--events", "rollout.cancelled, rollout.halted", "--secret",
                "0123456789abcdef",
            ])
            #expect(hook.hasPrefix("wh-"))
            #expect(try await cli.ok(["webhook", "list"]).contains("rollout.cancelled,rollout.halted"))
            #expect(try await cli.ok(["webhook", "deliveries", hook]).hasPrefix("DELIVERY"))
            _ = try await cli.ok(["webhook", "delete", hook])
            #expect(try await cli.run(["webhook", "describe", hook]).status == 1)
        }
    }

    /// Plain http:// is for this machine only: to any other host the CLI and the agent refuse before they
    /// connect, unless told --insecure.
    @Test func plainHTTPToAnotherHostIsRefused() async throws {
        for allowed in ["http://127.0.0.1:8080", "http://127.0.0.2:1", "http://localhost:8080", "http://[::1]:8080", "https://slipway.example.com"] {
            #expect(ServerAddress.plainHTTPRefusal(allowed, insecure: false) == nil, "\(allowed)")
        }
        #expect(ServerAddress.plainHTTPRefusal("http://10.0.0.1:9", insecure: true) == nil)
        let refusal = "refusing plain http:// to 10.0.0.1: tokens would cross the network in the clear; use an https:// URL, or pass --insecure to send them anyway"
        #expect(ServerAddress.plainHTTPRefusal("http://10.0.0.1:9", insecure: false) == refusal)

        var cli = try CLI()
        cli.environment["SLIPWAY_PASSWORD"] = "not-sent-anywhere"
        let login = try await cli.run(["login", "--url", "http://10.0.0.1:9", "--email", "ops@example.com"])
        #expect(login.status != 0 && login.stderr.contains(refusal), "\(login.stderr)")
        let list = try await cli.run(["service", "list", "--url", "http://10.0.0.1:9", "--token", "t"])
        #expect(list.status != 0 && list.stderr.contains(refusal), "\(list.stderr)")

        let agent = try await onOwnThread { () throws -> (Int32, String) in
            let process = Process()
            process.executableURL = builtProduct("slipway-agent")
            process.arguments = [
                "--server", "http://10.0.0.1:9", "--token", "sat-x", "--apply-command", "true",
                "--state-dir", FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString)").path,
            ]
            let err = Pipe()
            process.standardError = err
            process.standardOutput = Pipe()
            try process.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        #expect(agent.0 == 64 && agent.1.contains(refusal), "\(agent)")
    }

    @Test func progressBarAsAFunctionOfTheStatus() {
        let policy = RolloutPolicyResult(
            maxConcurrentUpgrades: 2, canaryCount: 0, failureThreshold: 1, instanceTimeoutSeconds: 600, bakeSeconds: 0, autoRollback: false)
        var status = RolloutStatusResult(
            status: "RUNNING", id: "up-1", imageConfigId: "imgc-1", serviceEnvironmentId: "se-1", total: 10, pending: 4, inProgress: 2,
            completed: 3, failed: 1, skipped: 0, rollingBack: 0, rolledBack: 0, currentWave: 3, totalWaves: 5, sourceVersions: ["1.0"],
            targetVersions: ["2.0"], message: "", etaSeconds: 75, policy: policy, createdBy: "a@b.c", createdAt: "", startedAt: nil, updatedAt: "",
            finishedAt: nil)
        #expect(RolloutProgress.bar(status, width: 10) == "RUNNING [████░░░░░░] 4/10  ✔ 3  ✘ 1  ⟳ 2  wave 3/5  ETA 1m15s")
        #expect(RolloutProgress.line(status) == "RUNNING wave 3/5: 3 completed, 1 failed, 2 in progress, 4 pending of 10, ETA 1m15s")
        status.status = "COMPLETE"
        status.completed = 10
        status.failed = 0
        status.inProgress = 0
        status.pending = 0
        status.etaSeconds = nil
        #expect(RolloutProgress.bar(status, width: 10) == "COMPLETE [██████████] 10/10  ✔ 10  ✘ 0  ⟳ 0  wave 3/5")
        status.total = 0
        status.completed = 0
        status.totalWaves = 0
        #expect(RolloutProgress.bar(status, width: 4) == "COMPLETE [████] 0/0  ✔ 0  ✘ 0  ⟳ 0")
        // An open sliding window is named as such; its canary wave is still a wave.
        status.policy.strategy = "window"
        status.totalWaves = 2
        status.currentWave = 2
        #expect(RolloutProgress.line(status) == "COMPLETE window of 2: 0 completed, 0 failed, 0 in progress, 0 pending of 0")
        status.currentWave = 1
        #expect(RolloutProgress.line(status) == "COMPLETE wave 1/2: 0 completed, 0 failed, 0 in progress, 0 pending of 0")
        #expect(RolloutProgress.duration(9.2) == "10s")
        #expect(RolloutProgress.duration(3725) == "1h02m")
    }
}
