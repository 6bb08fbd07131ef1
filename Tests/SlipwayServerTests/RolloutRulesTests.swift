import Foundation
import Hummingbird
import SlipwayWire
import Testing

@Suite("Rollout rules: plans, conflicts, bad input, agent auth, tenants")
struct RolloutRulesTests {
    /// The agent stops, saying why, when the server refuses its token or its state file cannot be read
    /// (rather than retrying forever, or applying again what it may already have applied).
    @Test func theAgentStopsOnARefusedTokenOrAnUnreadableStateFile() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 1)
            let refused = try AgentProcess(server: api.serverURL, token: "sat-wrong", applyCommand: "true")
            try await eventually("the agent with a wrong token to stop", within: 20) { !refused.process.isRunning }
            #expect(refused.process.terminationStatus != 0)
            #expect(refused.output.contains("the server refused the agent token"), "\(refused.output)")

            let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: stateDir, withIntermediateDirectories: true)
            try Data("not json".utf8).write(to: stateDir.appendingPathComponent("state.json"))
            let corrupt = try AgentProcess(server: api.serverURL, token: fleet.instances[0].agentToken, applyCommand: "true", stateDir: stateDir.path)
            try await eventually("the agent with a corrupt state file to stop", within: 20) { !corrupt.process.isRunning }
            #expect(corrupt.process.terminationStatus != 0)
            #expect(corrupt.output.contains("state.json is unreadable"), "\(corrupt.output)")
            #expect(corrupt.output.contains("move it away to start afresh"))
        }
    }

    @Test func dryRunAnswersThePlanAndChangesNothing() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 5)
            // One instance registered at the new version already: not eligible.
            try await fleet.ship(api, tag: "2")
            let current = try await api.call(
                .post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fleet.fixture.productTierId, name: "fresh")
            ).decode(RegisterInstanceResult.self)
            let plan = try await api.call(
                .post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 2, canaryCount: 1, dryRun: true)
            ).decode(RolloutPlanResult.self)
            #expect(plan.dryRun)
            #expect(plan.eligible.map(\.instanceId) == fleet.instances.map(\.id))
            #expect(plan.eligible.map(\.wave) == [1, 2, 2, 3, 3])
            #expect(plan.waves.map(\.count) == [1, 2, 2])
            #expect(plan.eligible[0].sourceImage == "docker.io/acme/app:1")
            #expect(plan.eligible[0].targetImage == "docker.io/acme/app:2")
            #expect(plan.eligible[0].targetVersion == "2.0")
            #expect(plan.ineligible.map(\.instanceId) == [current.id])
            #expect(plan.ineligible[0].reason == "already runs docker.io/acme/app:2 (version 2.0)")
            #expect(plan.policy.canaryCount == 1)
            #expect(plan.policy.strategy == "waves")
            // With a window, everything after the canary is one wave the window slides over.
            let windowed = try await api.call(
                .post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 2, canaryCount: 1, strategy: "window", dryRun: true)
            ).decode(RolloutPlanResult.self)
            #expect(windowed.policy.strategy == "window")
            #expect(windowed.eligible.map(\.wave) == [1, 2, 2, 2, 2])
            #expect(windowed.waves.map(\.count) == [1, 4])
            try await api.call(.get, fleet.rolloutPath).expectError(
                .notFound, "not_found", message: "image config \(fleet.fixture.imageConfigId) has never been rolled out; start with POST …/image-config/\(fleet.fixture.imageConfigId)/rollout")
        }
    }

    @Test func conflictsAndBadPolicies() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fixture = try await Fixture.make(api)
            // Before any release: 409.
            try await api.call(.post, fixture.imageConfigPath + "/rollout").expectError(
                .conflict, "invalid_state",
                message: "image config \(fixture.imageConfigId) has not been released yet; release it with POST …/image-config/\(fixture.imageConfigId)/release first")
            let fleet = try await Fleet.make(api, instances: 2)
            try await fleet.ship(api, tag: "2")
            let bad: [(RolloutPolicyRequest, String)] = [
                (.init(maxConcurrentUpgrades: 0), "maxConcurrentUpgrades must be from 1 to 100000, got 0"),
                (.init(canaryCount: -1), "canaryCount must be from 0 to 100000, got -1"),
                (.init(failureThreshold: 0), "failureThreshold must be from 1 to 1000000, got 0"),
                (.init(instanceTimeoutSeconds: 0), "instanceTimeoutSeconds must be from 1 to 86400, got 0"),
                (.init(bakeSeconds: 90000), "bakeSeconds must be from 0 to 86400, got 90000"),
                (.init(strategy: "sliding"), #"strategy must be "waves" or "window", got "sliding""#),
                (.init(strategy: ""), #"strategy must be "waves" or "window", got """#),
            ]
            for (policy, message) in bad {
                try await api.call(.post, fleet.rolloutPath, json: policy).expectError(.badRequest, "bad_request", message: message)
            }
            try await api.call(.post, fleet.rolloutPath, body: "{\"autoRollback\":\"yes\"}").expectError(
                .badRequest, "bad_request", message: "field 'autoRollback' must be a boolean")
            // No agents answer, so the first rollout stays live: a second one is refused.
            let first = try await api.call(.post, fleet.rolloutPath).decode(RolloutStatusResult.self)
            try await api.call(.post, fleet.rolloutPath).expectError(.conflict, "invalid_state", containing: "rollout \(first.id) of image config")
            try await api.call(.post, fleet.rolloutPath + "/retry").expectError(.conflict, "invalid_state", containing: "can be retried")
            // The instance is held: it cannot be deleted.
            try await api.call(.delete, "\(fleet.instancePath)/\(fleet.instances[0].id)").expectError(
                .conflict, "invalid_state", containing: "is part of rollout \(first.id)")
            // A viewer reads but does not steer.
            _ = try await api.create("/2022-09-01-00/user", CreateUserRequest(email: "v@example.com", password: "viewer-pass", role: "viewer"))
            let viewer = try await api.signIn("v@example.com", "viewer-pass")
            #expect(try await viewer.call(.get, fleet.rolloutPath).status == .ok)
            try await viewer.call(.post, fleet.rolloutPath + "/cancel").expectError(.forbidden, "forbidden")
            try await viewer.call(.post, fleet.rolloutPath).expectError(.forbidden, "forbidden")
            #expect(try await api.call(.post, fleet.rolloutPath + "/cancel").status == .ok)
            // Cancelling starts nothing new, but instances already told to upgrade stay in flight until they report or time out.
            try await api.call(.delete, "\(fleet.instancePath)/\(fleet.instances[0].id)").expectError(
                .conflict, "invalid_state", containing: "which is still driving it")
        }
    }

    @Test func aRolloutWaitsForAnEarlierOneHoldingTheSameInstances() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 3)
            let sidecar = try await api.create(
                "/2022-09-01-00/service/\(fleet.fixture.serviceId)/image-config",
                CreateImageConfigRequest(description: "", imageName: "acme/sidecar", serviceEnvironmentId: fleet.fixture.environmentId, imageTag: "1"))
            let sidecarPath = "/2022-09-01-00/service/\(fleet.fixture.serviceId)/image-config/\(sidecar)"
            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh", sleep: 0.5)
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
            defer { agents.forEach { $0.stop() } }
            try await eventually("first states applied") { scripts.runs.count == 3 }
            // Both configs get a new release; the preferred version pins both.
            try await fleet.ship(api, tag: "2")
            _ = try await api.call(.patch, sidecarPath, json: UpdateImageConfigRequest(imageTag: "2"))
            _ = try await api.call(.post, sidecarPath + "/release")
            let first = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 1)).decode(RolloutStatusResult.self)
            let second = try await api.call(.post, sidecarPath + "/rollout").decode(RolloutStatusResult.self)
            #expect(second.status == "PENDING_DEPENDENCY")
            #expect(second.message.contains("waiting for an earlier rollout"))
            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect(done.id == first.id)
            try await eventually("the queued rollout finished") {
                try await api.call(.get, sidecarPath + "/rollout").decode(RolloutStatusResult.self).status == "COMPLETE"
            }
            // The first rollout already moved every instance to the version with both images.
            let queued = try await api.call(.get, sidecarPath + "/rollout").decode(RolloutStatusResult.self)
            #expect(queued.skipped == 3)
            #expect(queued.completed == 0)
            for instance in fleet.instances {
                #expect(scripts.runs(of: instance.id, image: "docker.io/acme/sidecar:2") == 1)
                #expect(scripts.runs(of: instance.id, image: "docker.io/acme/app:2") == 1)
            }
        }
    }

    @Test func instancesAndTheAgentProtocol() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 2)
            let token = fleet.instances[0].agentToken
            #expect(token.hasPrefix("sat-"))
            let agent = api.as_(token)
            // Desired state, then the same ETag: 304 (wait=0 answers at once).
            let desired = try await agent.call(.get, "/agent/v1/desired-state")
            #expect(desired.status == .ok)
            #expect(desired.headers[.eTag] == "\"1\"")
            let state = try desired.decode(DesiredStateResult.self)
            #expect(state.tierVersion == "1.0")
            #expect(state.images.map(\.image) == ["docker.io/acme/app:1"])
            let again = try await agent.call(.get, "/agent/v1/desired-state?wait=0", headers: [.ifNoneMatch: "\"1\""])
            #expect(again.status == .notModified)
            // A weak validator, or one with blanks around it, names the same generation.
            for etag in ["W/\"1\"", " \"1\" "] {
                #expect(try await agent.call(.get, "/agent/v1/desired-state?wait=0", headers: [.ifNoneMatch: etag]).status == .notModified)
            }
            #expect(try await agent.call(.get, "/agent/v1/desired-state?wait=0", headers: [.ifNoneMatch: "\"0\""]).status == .ok)
            try await agent.call(.get, "/agent/v1/desired-state?wait=61").expectError(
                .badRequest, "bad_request", message: "wait must be a number of seconds from 0 to 60, got '61'")
            try await agent.call(.post, "/agent/v1/report", json: AgentReportRequest(tierVersion: "1.0", status: "DONE")).expectError(
                .badRequest, "bad_request", message: "status must be one of APPLYING, SUCCEEDED, FAILED, got 'DONE'")
            try await agent.call(.post, "/agent/v1/report", json: AgentReportRequest(tierVersion: "no-such-version", status: "SUCCEEDED")).expectError(
                .badRequest, "bad_request",
                message: "tierVersion 'no-such-version' is not a version of product tier \(fleet.fixture.productTierId); report the version of the desired state")
            #expect(try await agent.call(.post, "/agent/v1/report", json: AgentReportRequest(tierVersion: "1.0", status: "SUCCEEDED", health: "ok", generation: 1)).status == .ok)
            let described = try await api.call(.get, "\(fleet.instancePath)/\(fleet.instances[0].id)").decode(InstanceResult.self)
            #expect(described.lastReport?.status == "SUCCEEDED")
            #expect(described.health == "ok")
            #expect(try await api.as_(nil).call(.get, "/metrics").body.contains("slipway_agent_reports_total{status=\"SUCCEEDED\"} 1"))

            // Tokens: a user JWT is no agent token, an agent token is no user token, a wrong one is refused.
            let refused = "the agent token is not valid, or its instance was deleted; register the instance for a new token"
            try await api.call(.get, "/agent/v1/desired-state").expectError(.unauthorized, "auth_failure", message: refused)
            try await api.as_("sat-wrong").call(.get, "/agent/v1/desired-state").expectError(.unauthorized, "auth_failure", message: refused)
            try await api.as_(nil).call(.get, "/agent/v1/desired-state").expectError(
                .unauthorized, "auth_failure", message: "missing Authorization header: agents send 'Authorization: Bearer <agentToken>'")
            try await agent.call(.get, fleet.instancePath).expectError(.unauthorized, "auth_failure")
            // A long-poll is woken by a rollout at once (on a connection of its own).
            try await fleet.ship(api, tag: "2")
            let longPoller = APIClient(baseURL: api.serverURL, token: token)
            async let woken = longPoller.call(.get, "/agent/v1/desired-state?wait=30", headers: [.ifNoneMatch: "\"1\""])
            try await Task.sleep(for: .milliseconds(300))
            let started = Date()
            _ = try await api.call(.post, fleet.rolloutPath)
            let reply = try await woken
            #expect(reply.status == .ok)
            #expect(Date().timeIntervalSince(started) < 10)
            #expect(try reply.decode(DesiredStateResult.self).tierVersion == "2.0")
            #expect(try await api.call(.post, fleet.rolloutPath + "/cancel").status == .ok)
            // A deleted instance's token stops working.
            _ = try await agent.call(.post, "/agent/v1/report", json: AgentReportRequest(tierVersion: "2.0", status: "SUCCEEDED", generation: 2))
            #expect(try await api.call(.delete, "\(fleet.instancePath)/\(fleet.instances[0].id)").status == .ok)
            try await agent.call(.get, "/agent/v1/desired-state").expectError(.unauthorized, "auth_failure", message: refused)

            // Registration errors.
            try await api.call(.post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fleet.fixture.productTierId, name: "node-01"))
                .expectError(.conflict, "invalid_state", containing: "already has an instance named 'node-01'")
            try await api.call(.post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: "pt-nope", name: "x"))
                .expectError(.notFound, "not_found", message: "product tier pt-nope not found")
            try await api.call(.post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fleet.fixture.productTierId, name: "x", tierVersion: "9.0"))
                .expectError(.notFound, "not_found", message: "product tier \(fleet.fixture.productTierId) has no version '9.0'")
            try await api.call(.get, fleet.instancePath + "?status=BROKEN").expectError(
                .badRequest, "bad_request", message: "status must be one of APPLYING, SUCCEEDED, FAILED, UNKNOWN, got 'BROKEN'")
            let unreleasedTier = try await api.create(
                "/2022-09-01-00/service/\(fleet.fixture.serviceId)/product-tier",
                CreateProductTierRequest(name: "premium", serviceEnvironmentId: fleet.fixture.environmentId))
            try await api.call(.post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: unreleasedTier, name: "y"))
                .expectError(.conflict, "invalid_state", containing: "has no released version yet")
            try await api.call(.delete, "/2022-09-01-00/service/\(fleet.fixture.serviceId)/product-tier/\(fleet.fixture.productTierId)")
                .expectError(.conflict, "invalid_state", message: "product tier \(fleet.fixture.productTierId) still has 1 instance(s); delete them before deleting the tier")
        }
    }

    @Test func anotherOrganizationSeesNoInstancesOrRollouts() async throws {
        var configuration = try await testConfiguration()
        configuration.allowSignup = true
        try await withServer(configuration) { api in
            let owner = try await api.signIn()
            let fleet = try await Fleet.make(owner, instances: 1)
            try await fleet.ship(owner, tag: "2")
            _ = try await owner.call(.post, fleet.rolloutPath)
            _ = try await api.call(
                .post, "/2022-09-01-00/signup", json: SignupRequest(name: "M", email: "m@evil.test", password: "mallory-pass", companyName: "Evil"))
            let mallory = try await api.signIn("m@evil.test", "mallory-pass")
            let service = "service \(fleet.fixture.serviceId) not found"
            let config = "image config \(fleet.fixture.imageConfigId) not found"
            try await mallory.call(.get, fleet.instancePath).expectError(.notFound, "not_found", message: service)
            try await mallory.call(.get, "\(fleet.instancePath)/\(fleet.instances[0].id)").expectError(.notFound, "not_found", message: service)
            try await mallory.call(.delete, "\(fleet.instancePath)/\(fleet.instances[0].id)").expectError(.notFound, "not_found", message: service)
            try await mallory.call(.post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fleet.fixture.productTierId, name: "z"))
                .expectError(.notFound, "not_found", message: service)
            for suffix in ["", "/instances"] {
                try await mallory.call(.get, fleet.rolloutPath + suffix).expectError(.notFound, "not_found", message: config)
            }
            try await mallory.call(.get, fleet.fixture.imageConfigPath + "/rollouts").expectError(.notFound, "not_found", message: config)
            for verb in ["", "/pause", "/resume", "/cancel", "/retry"] {
                try await mallory.call(.post, fleet.rolloutPath + verb).expectError(.notFound, "not_found", message: config)
            }
            #expect(try await fleet.status(owner).status == "RUNNING")
        }
    }
}
