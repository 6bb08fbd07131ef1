import Foundation
import Hummingbird
import SlipwayWire
import Testing

/// Rollouts driven end to end: a real server on 127.0.0.1 and one real `slipway-agent` process per instance,
/// whose apply commands are small shell scripts that log every run.
@Suite("Rollouts with real agents")
struct RolloutTests {
    static let v2 = "docker.io/acme/app:2"

    @Test func fullRolloutInWaves() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 10)
            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
            defer { agents.forEach { $0.stop() } }
            try await eventually("every agent applied its first state") { scripts.runs.count == 10 }

            try await fleet.ship(api, tag: "2")
            let started = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 4))
            #expect(started.status == .ok, "\(started.body)")
            let initial = try started.decode(RolloutStatusResult.self)
            #expect(initial.total == 10)
            #expect(initial.totalWaves == 3)
            #expect(initial.sourceVersions == ["1.0"])
            #expect(initial.targetVersions == ["2.0"])

            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect(done.completed == 10)
            #expect(done.failed == 0 && done.pending == 0 && done.inProgress == 0)
            #expect(done.currentWave == 3)
            #expect(done.finishedAt != nil)
            #expect(done.message.contains("complete: 10 instance(s) upgraded to 2.0"))
            for instance in fleet.instances {
                #expect(scripts.runs(of: instance.id, image: Self.v2) == 1, "\(instance.id) applied v2 exactly once")
            }
            let waves = try await fleet.rolloutInstances(api).map(\.wave)
            #expect(waves == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3])

            let described = try await api.call(.get, "\(fleet.instancePath)/\(fleet.instances[0].id)").decode(InstanceResult.self)
            #expect(described.tierVersion == "2.0")
            #expect(described.images == [InstanceImage(imageConfigId: fleet.fixture.imageConfigId, image: Self.v2)])
            #expect(described.lastReport?.status == "SUCCEEDED")
            #expect(described.health == "healthy")
            #expect(described.upgradeHistory?.map(\.status) == ["COMPLETED"])

            let listed = try await api.call(.get, "\(fleet.instancePath)?tierVersion=2.0&status=SUCCEEDED").decode(ListInstancesResult.self)
            #expect(listed.instances.count == 10)

            // Nothing left to move: the next rollout completes at once with total 0.
            let again = try await api.call(.post, fleet.rolloutPath).decode(RolloutStatusResult.self)
            #expect(again.status == "COMPLETE")
            #expect(again.total == 0)
        }
    }

    /// The window strategy: one instance that takes long holds one slot, and the rest of the fleet goes through the other.
    @Test func aSlidingWindowGoesAroundASlowInstance() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 6)
            let scripts = try ApplyScripts()
            let held = try scripts.script(name: "held.sh", heldOnSuffix: ":2")
            let apply = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.enumerated().map { index, instance in
                try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: index == 1 ? held : apply)
            }
            defer { agents.forEach { $0.stop() } }
            try await eventually("every agent applied its first state") { scripts.runs.count == 6 }
            try await fleet.ship(api, tag: "2")

            let started = try await api.call(
                .post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 2, canaryCount: 1, strategy: "window"))
            #expect(started.status == .ok, "\(started.body)")
            let initial = try started.decode(RolloutStatusResult.self)
            #expect(initial.policy.strategy == "window" && initial.totalWaves == 2)
            #expect(initial.message.hasSuffix("6 instance(s) to upgrade, a canary wave of 1 first, then up to 2 at a time, the next starting as soon as one finishes"))

            // Instance 1 is held; in waves of 2 it would hold back every later wave. The window goes around it.
            try await eventually("every other instance upgraded around the held one", within: 60) {
                let status = try await fleet.status(api)
                return status.completed == 5 && status.inProgress == 1
            }
            let open = try await fleet.status(api)
            #expect(open.status == "RUNNING" && open.currentWave == 2)
            #expect(open.message == "window open: up to 2 instance(s) upgrading at a time, 5 left to upgrade")
            let entries = try await fleet.rolloutInstances(api)
            #expect(entries.map(\.wave) == [1, 2, 2, 2, 2, 2])
            #expect(entries.map(\.status) == ["COMPLETED", "IN_PROGRESS", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED"])

            scripts.release()
            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect(done.completed == 6 && done.failed == 0)
            for instance in fleet.instances {
                #expect(scripts.runs(of: instance.id, image: Self.v2) == 1, "\(instance.id) applied v2 exactly once")
            }
        }
    }

    @Test func failingCanaryHaltsBeforeTheFirstBatch() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 5)
            let scripts = try ApplyScripts()
            let failing = try scripts.script(name: "fail.sh", failOnSuffix: ":2")
            let healthy = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.enumerated().map { index, instance in
                try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: index == 0 ? failing : healthy)
            }
            defer { agents.forEach { $0.stop() } }
            try await fleet.ship(api, tag: "2")
            _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 2, canaryCount: 1))
            let failed = try await waitForRollout(api, fleet, "FAILED")
            #expect(failed.failed == 1)
            #expect(failed.skipped == 4)
            #expect(failed.completed == 0)
            #expect(failed.message.contains("reaching the failure threshold of 1"))
            let entries = try await fleet.rolloutInstances(api)
            #expect(entries[0].status == "FAILED")
            #expect(entries[0].reason?.contains("apply command exited 3") == true)
            #expect(entries[0].reason?.contains("manifest unknown") == true)
            #expect(entries.dropFirst().allSatisfy { $0.status == "SKIPPED" })
            for instance in fleet.instances.dropFirst() {
                #expect(scripts.runs(of: instance.id, image: Self.v2) == 0, "no batch instance was touched")
            }

            // Retry after the fix: the failed and skipped instances run again, each exactly once more.
            scripts.fix()
            let retried = try await api.call(.post, fleet.rolloutPath + "/retry")
            #expect(retried.status == .ok, "\(retried.body)")
            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect(done.completed == 5)
            #expect(done.failed == 0)
            #expect(scripts.runs(of: fleet.instances[0].id, image: Self.v2) == 2)
            for instance in fleet.instances.dropFirst() {
                #expect(scripts.runs(of: instance.id, image: Self.v2) == 1)
            }
            try await api.call(.post, fleet.rolloutPath + "/retry").expectError(
                .conflict, "invalid_state", containing: "only a FAILED or CANCELLED rollout that has settled can be retried")
        }
    }

    @Test func thresholdHaltRollsBackWhatItUpgraded() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 6)
            let scripts = try ApplyScripts()
            let failing = try scripts.script(name: "fail.sh", failOnSuffix: ":2")
            let healthy = try scripts.script(name: "apply.sh", sleep: 0.3)
            let agents = try fleet.instances.enumerated().map { index, instance in
                try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: index == 1 ? failing : healthy)
            }
            defer { agents.forEach { $0.stop() } }
            try await eventually("first states applied") { scripts.runs.count == 6 }
            try await fleet.ship(api, tag: "2")
            _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 3, autoRollback: true))
            _ = try await waitForRollout(api, fleet, "FAILED")
            try await eventually("the rollback finished") { try await fleet.status(api).message.contains("rolled back") }
            let status = try await fleet.status(api)
            #expect(status.rolledBack == 2)
            #expect(status.failed == 1)
            #expect(status.skipped == 3)
            #expect(status.rollingBack == 0)
            #expect(status.message.contains("rolled back 2 upgraded instance(s) to their source version"), "\(status.message)")
            let entries = try await fleet.rolloutInstances(api)
            #expect(entries.map(\.status) == ["ROLLED_BACK", "FAILED", "ROLLED_BACK", "SKIPPED", "SKIPPED", "SKIPPED"])
            for index in [0, 2] {
                let id = fleet.instances[index].id
                #expect(scripts.runs(of: id, image: Self.v2) == 1)
                #expect(scripts.runs(of: id, image: "docker.io/acme/app:1") == 2, "first apply, then the rollback")
                let described = try await api.call(.get, "\(fleet.instancePath)/\(id)").decode(InstanceResult.self)
                #expect(described.tierVersion == "1.0")
            }
        }
    }

    @Test func silentInstanceTimesOut() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 3)
            let scripts = try ApplyScripts()
            let healthy = try scripts.script(name: "apply.sh")
            let hanging = try scripts.script(name: "hang.sh", hang: true)
            // The third agent applies its first state, then never answers again.
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: healthy) }
            defer { agents.forEach { $0.stop() } }
            try await eventually("first states applied") { scripts.runs.count == 3 }
            agents[2].stop()
            let stuck = try AgentProcess(server: api.serverURL, token: fleet.instances[2].agentToken, applyCommand: hanging, stateDir: agents[2].stateDir)
            defer { stuck.stop() }
            try await fleet.ship(api, tag: "2")
            // Long enough for a healthy agent to apply and report while every suite runs at once on 2 cores.
            _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(instanceTimeoutSeconds: 6))
            let failed = try await waitForRollout(api, fleet, "FAILED", within: 60)
            #expect(failed.completed == 2)
            #expect(failed.failed == 1)
            let entries = try await fleet.rolloutInstances(api)
            #expect(entries[2].reason == "no successful report within 6 s (instanceTimeoutSeconds)")
        }
    }

    @Test func pauseResumeAndCancel() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 4)
            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
            defer { agents.forEach { $0.stop() } }
            try await fleet.ship(api, tag: "2")
            // One instance per wave, and a bake between waves long enough to pause in.
            _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 1, bakeSeconds: 2))
            try await eventually("the first wave completed") { try await fleet.status(api).completed == 1 }
            let paused = try await api.call(.post, fleet.rolloutPath + "/pause").decode(RolloutStatusResult.self)
            #expect(paused.status == "PAUSED")
            try await api.call(.post, fleet.rolloutPath + "/pause").expectError(
                .conflict, "invalid_state", containing: "only a SCHEDULED, PENDING or RUNNING rollout can be paused")
            try await Task.sleep(for: .seconds(3))
            let still = try await fleet.status(api)
            #expect(still.status == "PAUSED")
            #expect(still.completed == 1 && still.inProgress == 0, "no wave starts while paused")

            #expect(try await api.call(.post, fleet.rolloutPath + "/resume").decode(RolloutStatusResult.self).status == "RUNNING")
            try await eventually("the second wave completed") { try await fleet.status(api).completed == 2 }
            let cancelled = try await api.call(.post, fleet.rolloutPath + "/cancel").decode(RolloutStatusResult.self)
            #expect(cancelled.status == "CANCELLED")
            #expect(cancelled.skipped == 2)
            #expect(cancelled.message.contains("cancelled: 2 instance(s) were not started"))
            try await api.call(.post, fleet.rolloutPath + "/resume").expectError(
                .conflict, "invalid_state", containing: "only a PAUSED rollout can be resumed")
            try await api.call(.post, fleet.rolloutPath + "/cancel").expectError(
                .conflict, "invalid_state", containing: "is already CANCELLED")
            for instance in fleet.instances.suffix(2) {
                #expect(scripts.runs(of: instance.id, image: Self.v2) == 0)
            }
            let history = try await api.call(.get, fleet.fixture.imageConfigPath + "/rollouts").decode(ListRolloutsResult.self)
            #expect(history.rollouts.map(\.status) == ["CANCELLED"])
        }
    }

    @Test func aRestartedAgentNeverAppliesTheSameStateTwice() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 1)
            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh")
            let instance = fleet.instances[0]
            let first = try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: apply)
            try await eventually("the first state applied") {
                try await api.call(.get, "\(fleet.instancePath)/\(instance.id)").decode(InstanceResult.self).lastReport?.status == "SUCCEEDED"
            }
            first.stop()
            // Same state directory, same desired state: the restarted agent only reports again.
            let second = try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: apply, stateDir: first.stateDir)
            defer { second.stop() }
            try await Task.sleep(for: .seconds(1))
            #expect(scripts.runs(of: instance.id, image: "docker.io/acme/app:1") == 1)
            // A new desired state is applied once, by the restarted agent.
            try await fleet.ship(api, tag: "2")
            _ = try await api.call(.post, fleet.rolloutPath)
            _ = try await waitForRollout(api, fleet, "COMPLETE")
            #expect(scripts.runs(of: instance.id, image: Self.v2) == 1)
            #expect(scripts.runs(of: instance.id, image: "docker.io/acme/app:1") == 1)
        }
    }
}
