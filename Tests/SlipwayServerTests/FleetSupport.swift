import Foundation
import Hummingbird
import SlipwayWire
import Testing

/// A real `slipway-agent` process for one instance.
final class AgentProcess: @unchecked Sendable {
    let process = Process()
    let stateDir: String
    let log: URL

    static var executable: URL {
        builtProduct("slipway-agent")
    }

    init(
        server: String, token: String, applyCommand: String, healthCommand: String? = nil, stateDir: String? = nil, extraArguments: [String] = []
    ) throws {
        let directory = stateDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString)").path
        self.stateDir = directory
        log = URL(fileURLWithPath: directory + ".log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = Self.executable
        process.arguments = ["--server", server, "--token", token, "--apply-command", applyCommand, "--state-dir", directory, "--wait", "10"]
            + (healthCommand.map { ["--health-command", $0] } ?? []) + extraArguments
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    deinit { stop() }
}

/// Shell scripts for apply commands, and the log they append to: one line per run, "<instance> <image>".
struct ApplyScripts {
    let directory: URL
    var log: URL { directory.appendingPathComponent("applied.log") }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("apply-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: log.path, contents: nil)
    }

    /// A script that records the run, sleeps (`slowSeconds` more for images ending in `slowOnSuffix`), waits for
    /// ``release()`` for images ending in `heldOnSuffix`, and fails for images ending in `failOnSuffix` until
    /// ``fix()`` (with `failOnlyWhenArmed`, only after ``arm()``).
    func script(
        name: String, sleep: Double = 0.1, failOnSuffix: String? = nil, failOnlyWhenArmed: Bool = false, slowOnSuffix: String? = nil,
        slowSeconds: Double = 0, heldOnSuffix: String? = nil, hang: Bool = false
    ) throws -> String {
        var body = "#!/bin/sh\necho \"$SLIPWAY_INSTANCE_ID $SLIPWAY_IMAGE\" >> '\(log.path)'\n"
        if hang { body += "sleep 3600\n" }
        if let heldOnSuffix {
            body += "case \"$SLIPWAY_IMAGE\" in *\(heldOnSuffix)) while [ ! -e '\(directory.path)/released' ]; do sleep 0.1; done;; esac\n"
        }
        body += "sleep \(sleep)\n"
        if let slowOnSuffix {
            body += "case \"$SLIPWAY_IMAGE\" in *\(slowOnSuffix)) sleep \(slowSeconds);; esac\n"
        }
        if let failOnSuffix {
            let armed = failOnlyWhenArmed ? "[ -e '\(directory.path)/armed' ] && " : ""
            body += "case \"$SLIPWAY_IMAGE\" in *\(failOnSuffix)) if \(armed)[ ! -e '\(directory.path)/fixed' ]; then echo 'pull failed: manifest unknown' >&2; exit 3; fi;; esac\n"
        }
        body += "exit 0\n"
        let file = directory.appendingPathComponent(name)
        try body.write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        return file.path
    }

    /// From now on, failing scripts succeed.
    func fix() {
        FileManager.default.createFile(atPath: directory.appendingPathComponent("fixed").path, contents: nil)
    }

    /// Held scripts go on.
    func release() {
        FileManager.default.createFile(atPath: directory.appendingPathComponent("released").path, contents: nil)
    }

    /// From now on, scripts made with `failOnlyWhenArmed` fail too.
    func arm() {
        FileManager.default.createFile(atPath: directory.appendingPathComponent("armed").path, contents: nil)
    }

    /// The runs so far, as (instance, image) pairs.
    var runs: [(instance: String, image: String)] {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
    }

    func runs(of instance: String, image: String) -> Int {
        runs.filter { $0.instance == instance && $0.image == image }.count
    }
}

/// A service with an environment, a tier and one released image config at tag `1`, plus registered instances.
struct Fleet: Sendable {
    var fixture: Fixture
    var instances: [RegisterInstanceResult]
    var rolloutPath: String { fixture.imageConfigPath + "/rollout" }
    var instancePath: String { "/2022-09-01-00/service/\(fixture.serviceId)/environment/\(fixture.environmentId)/instance" }

    static func make(_ api: APIClient, instances count: Int) async throws -> Fleet {
        let serviceId = try await api.create("/2022-09-01-00/service", CreateServiceRequest(name: "svc"))
        let environmentId = try await api.create("/2022-09-01-00/service/\(serviceId)/environment", CreateServiceEnvironmentRequest(name: "prod"))
        let productTierId = try await api.create(
            "/2022-09-01-00/service/\(serviceId)/product-tier", CreateProductTierRequest(name: "basic", serviceEnvironmentId: environmentId))
        let imageConfigId = try await api.create(
            "/2022-09-01-00/service/\(serviceId)/image-config",
            CreateImageConfigRequest(description: "app", imageName: "acme/app", serviceEnvironmentId: environmentId, imageTag: "1"))
        let fixture = Fixture(serviceId: serviceId, environmentId: environmentId, productTierId: productTierId, imageConfigId: imageConfigId)
        #expect(try await api.call(.post, fixture.imageConfigPath + "/release").status == .ok)
        var registered: [RegisterInstanceResult] = []
        for index in 0..<count {
            let reply = try await api.call(
                .post, "/2022-09-01-00/service/\(serviceId)/environment/\(environmentId)/instance",
                json: RegisterInstanceRequest(productTierId: productTierId, name: String(format: "node-%02d", index)))
            #expect(reply.status == .ok, "\(reply.body)")
            registered.append(try reply.decode(RegisterInstanceResult.self))
        }
        return Fleet(fixture: fixture, instances: registered)
    }

    /// Moves the working copy to `tag` and releases it.
    func ship(_ api: APIClient, tag: String) async throws {
        #expect(try await api.call(.patch, fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: tag)).status == .ok)
        #expect(try await api.call(.post, fixture.imageConfigPath + "/release").status == .ok)
    }

    func status(_ api: APIClient) async throws -> RolloutStatusResult {
        try await api.call(.get, rolloutPath).decode(RolloutStatusResult.self)
    }

    func rolloutInstances(_ api: APIClient) async throws -> [RolloutInstanceResult] {
        try await api.call(.get, rolloutPath + "/instances?pageSize=1000").decode(ListRolloutInstancesResult.self).instances
    }
}

/// Polls `condition` until it holds or `seconds` pass.
func eventually(
    _ what: String, within seconds: Double = 60, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("timed out after \(seconds) s waiting for \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

/// Waits for a rollout to reach `status`, returning it.
func waitForRollout(_ api: APIClient, _ fleet: Fleet, _ status: String, within seconds: Double = 60, sourceLocation: SourceLocation = #_sourceLocation)
    async throws -> RolloutStatusResult
{
    var last: RolloutStatusResult?
    do {
        try await eventually("rollout \(status)", within: seconds, sourceLocation: sourceLocation) {
            last = try await fleet.status(api)
            return last?.status == status
        }
    } catch {
        Issue.record("last status: \(String(describing: last))", sourceLocation: sourceLocation)
        throw error
    }
    return last!
}
