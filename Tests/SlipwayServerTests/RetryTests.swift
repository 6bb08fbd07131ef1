import Foundation
import Hummingbird
import SlipwayWire
import Testing

/// Retrying a halted rollout re-runs what is left and settles, whatever happened to its instances in between:
/// each case here once made `retry` halt at once on counts that no longer matched the instances.
@Suite("Retry after the fleet moved on")
struct RetryTests {
    static let v2 = "docker.io/acme/app:2"

    @Test func aDeletedFailedInstanceNoLongerCountsAgainstTheRetry() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 4)
            let scripts = try ApplyScripts()
            let failing = try scripts.script(name: "fail.sh", failOnSuffix: ":2")
            let healthy = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.enumerated().map { index, instance in
                try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: index == 0 ? failing : healthy)
            }
            defer { agents.forEach { $0.stop() } }
            try await eventually("first states applied") { scripts.runs.count == 4 }
            try await fleet.ship(api, tag: "2")
            _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 2))
            let failed = try await waitForRollout(api, fleet, "FAILED")
            #expect((failed.completed, failed.failed, failed.skipped) == (1, 1, 2))

            // The broken instance is replaced: deleted. It no longer counts anywhere.
            #expect(try await api.call(.delete, "\(fleet.instancePath)/\(fleet.instances[0].id)").status == .ok)
            let after = try await fleet.status(api)
            #expect((after.total, after.completed, after.failed, after.skipped) == (3, 1, 0, 2))

            let retried = try await api.call(.post, fleet.rolloutPath + "/retry").decode(RolloutStatusResult.self)
            #expect(retried.message == "retrying 2 instance(s) that did not reach their target")
            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect((done.total, done.completed, done.failed, done.skipped) == (3, 3, 0, 0))
            for instance in fleet.instances.dropFirst() {
                #expect(scripts.runs(of: instance.id, image: Self.v2) == 1)
            }
        }
    }

    @Test func anInstanceThatTimedOutAndThenSucceededCountsAsCompleted() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 3)
            let scripts = try ApplyScripts()
            let healthy = try scripts.script(name: "apply.sh")
            // Slow only for the new image: the first state applies at once.
            let slow = try scripts.script(name: "slow.sh", slowOnSuffix: ":2", slowSeconds: 12)
            let agents = try fleet.instances.enumerated().map { index, instance in
                try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: index == 0 ? slow : healthy)
            }
            defer { agents.forEach { $0.stop() } }
            try await eventually("first states applied") { scripts.runs.count == 3 }
            try await fleet.ship(api, tag: "2")
            // The timeout leaves a healthy apply and report room under a loaded machine; the slow one misses it by far.
            _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 2, instanceTimeoutSeconds: 6))
            let failed = try await waitForRollout(api, fleet, "FAILED")
            #expect((failed.completed, failed.failed, failed.skipped) == (1, 1, 1))
            // The slow instance gets there after all, and says so.
            let slowPath = "\(fleet.instancePath)/\(fleet.instances[0].id)"
            try await eventually("the slow instance reported success") {
                try await api.call(.get, slowPath).decode(InstanceResult.self).tierVersion == "2.0"
            }

            let retried = try await api.call(.post, fleet.rolloutPath + "/retry").decode(RolloutStatusResult.self)
            #expect(retried.message == "retrying 1 instance(s) that did not reach their target; 1 found running their target already count as completed")
            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect((done.total, done.completed, done.failed, done.skipped) == (3, 3, 0, 0))
            let entries = try await fleet.rolloutInstances(api)
            #expect(entries[0].status == "COMPLETED")
            #expect(entries[0].reason == "found running version 2.0 when the rollout was retried")
            // Nobody applied the new image twice: the slow instance is not told again.
            for instance in fleet.instances {
                #expect(scripts.runs(of: instance.id, image: Self.v2) == 1, "\(instance.id)")
            }
        }
    }

    @Test func anInstanceWhoseRollbackFailedRunsAgainOnRetry() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 3)
            let scripts = try ApplyScripts()
            let failsUpgrade = try scripts.script(name: "fail-2.sh", failOnSuffix: ":2")
            let failsRollback = try scripts.script(name: "fail-1.sh", failOnSuffix: ":1", failOnlyWhenArmed: true)
            let healthy = try scripts.script(name: "apply.sh")
            let commands = [failsRollback, failsUpgrade, healthy]
            let agents = try fleet.instances.enumerated().map { index, instance in
                try AgentProcess(server: api.serverURL, token: instance.agentToken, applyCommand: commands[index])
            }
            defer { agents.forEach { $0.stop() } }
            try await eventually("first states applied") { scripts.runs.count == 3 }
            scripts.arm()
            try await fleet.ship(api, tag: "2")
            _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 3, autoRollback: true))
            _ = try await waitForRollout(api, fleet, "FAILED")
            try await eventually("the rollback finished") { try await fleet.status(api).message.contains("rolled back") }
            let halted = try await fleet.status(api)
            #expect(halted.message == "failed: 1 instance(s) failed, reaching the failure threshold of 1; rolled back 2 upgraded instance(s) to their source version (1 rollback(s) failed)")
            #expect((halted.failed, halted.rolledBack, halted.rollingBack) == (2, 1, 0))
            let entries = try await fleet.rolloutInstances(api)
            #expect(entries.map(\.status) == ["FAILED", "FAILED", "ROLLED_BACK"])
            #expect(entries[0].reason?.hasPrefix("rollback failed: ") == true, "\(String(describing: entries[0].reason))")

            scripts.fix()
            let retried = try await api.call(.post, fleet.rolloutPath + "/retry").decode(RolloutStatusResult.self)
            #expect(retried.message == "retrying 3 instance(s) that did not reach their target")
            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect((done.total, done.completed, done.failed, done.rolledBack) == (3, 3, 0, 0))
            for instance in fleet.instances {
                let described = try await api.call(.get, "\(fleet.instancePath)/\(instance.id)").decode(InstanceResult.self)
                #expect(described.tierVersion == "2.0" && described.desiredTierVersion == "2.0", "\(instance.id)")
            }
        }
    }

    @Test func aRolloutWithNothingLeftToRetryIsRefused() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 2)
            let scripts = try ApplyScripts()
            let healthy = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: healthy) }
            defer { agents.forEach { $0.stop() } }
            try await fleet.ship(api, tag: "2")
            let started = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 1, bakeSeconds: 30))
                .decode(RolloutStatusResult.self)
            try await eventually("the first wave completed") { try await fleet.status(api).completed == 1 }
            _ = try await api.call(.post, fleet.rolloutPath + "/cancel")
            // The skipped instance is deleted: nothing is left to retry.
            #expect(try await api.call(.delete, "\(fleet.instancePath)/\(fleet.instances[1].id)").status == .ok)
            try await api.call(.post, fleet.rolloutPath + "/retry").expectError(
                .conflict, "invalid_state", message: "rollout \(started.id) has no instance left to retry: every instance reached its target")
        }
    }
}
