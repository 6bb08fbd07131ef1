import Foundation
import Hummingbird
import SlipwayWire
import Testing

/// Choosing who, when and on what evidence, end to end: labels and a selector, a schedule, a canary that waits
/// for promote, and skipping instances, with a real server and one real `slipway-agent` per instance.
@Suite("Rollout control with real agents")
struct RolloutControlEndToEndTests {
    static let v2 = "docker.io/acme/app:2"

    func label(_ api: APIClient, _ fleet: Fleet, _ index: Int, _ labels: [String: String]) async throws {
        let reply = try await api.call(.patch, "\(fleet.instancePath)/\(fleet.instances[index].id)", json: UpdateInstanceRequest(labels: labels))
        #expect(reply.status == .ok, "\(reply.body)")
        #expect(try reply.decode(InstanceResult.self).labels == labels)
    }

    @Test func aScheduledRolloutOfTheEUInstancesWaitsForPromoteAfterItsCanary() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            var fleet = try await Fleet.make(api, instances: 4)
            for index in 0..<3 { try await label(api, fleet, index, ["region": "eu"]) }
            try await label(api, fleet, 3, ["region": "us"])
            // Labels given at registration count the same.
            let registered = try await api.call(
                .post, fleet.instancePath,
                json: RegisterInstanceRequest(productTierId: fleet.fixture.productTierId, name: "node-04", labels: ["region": "eu", "tier": "gold"]))
            #expect(registered.status == .ok, "\(registered.body)")
            fleet.instances.append(try registered.decode(RegisterInstanceResult.self))
            let described = try await api.call(.get, "\(fleet.instancePath)/\(fleet.instances[4].id)").decode(InstanceResult.self)
            #expect(described.labels == ["region": "eu", "tier": "gold"])

            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
            defer { agents.forEach { $0.stop() } }
            try await eventually("every agent applied its first state") { scripts.runs.count == 5 }
            try await fleet.ship(api, tag: "2")

            let selector = RolloutSelectorWire(labels: ["region": "eu"])
            let plan = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(selector: selector, dryRun: true))
                .decode(RolloutPlanResult.self)
            #expect(plan.eligible.map(\.instanceId) == [0, 1, 2, 4].map { fleet.instances[$0].id })
            #expect(plan.ineligible.map(\.reason) == ["its labels do not match the rollout's selector: wanted region=eu, has region=us"])

            let at = Date().addingTimeInterval(8)
            let started = try await api.call(
                .post, fleet.rolloutPath,
                json: RolloutPolicyRequest(
                    maxConcurrentUpgrades: 2, canaryCount: 1, selector: selector, pauseAfterCanary: true, scheduledAt: at.formatted(.iso8601)))
            #expect(started.status == .ok, "\(started.body)")
            let scheduled = try started.decode(RolloutStatusResult.self)
            #expect(scheduled.status == "SCHEDULED" && scheduled.total == 4)
            #expect(scheduled.policy.pauseAfterCanary == true && scheduled.policy.selector == selector)
            #expect(scheduled.message.hasPrefix("scheduled: 4 instance(s) to upgrade, starting at "))
            #expect(try await fleet.status(api).status == "SCHEDULED")
            #expect(scripts.runs.filter { $0.image == Self.v2 }.isEmpty, "nothing moves before its time")

            let paused = try await waitForRollout(api, fleet, "PAUSED")
            #expect(Date() >= at.addingTimeInterval(-1), "it started at its time")
            #expect(paused.awaitingPromotion == true && paused.completed == 1 && paused.pending == 3)
            #expect(paused.message
                == "paused after the canary wave (1 instance(s) upgraded): 3 instance(s) wait until it is promoted with POST …/rollout/promote, or cancelled")
            #expect(scripts.runs.filter { $0.image == Self.v2 }.count == 1)
            let resume = try await api.call(.post, fleet.rolloutPath + "/resume")
            resume.expectError(
                .conflict, "invalid_state",
                message: "rollout \(paused.id) is paused after its canary wave, waiting to be promoted; promote it with POST …/rollout/promote, "
                    + "or cancel it with POST …/rollout/cancel")

            let promoted = try await api.call(.post, fleet.rolloutPath + "/promote")
            #expect(promoted.status == .ok, "\(promoted.body)")
            #expect(try promoted.decode(RolloutStatusResult.self).promotedAt != nil)
            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect(done.completed == 4)
            for index in [0, 1, 2, 4] { #expect(scripts.runs(of: fleet.instances[index].id, image: Self.v2) == 1) }
            #expect(scripts.runs(of: fleet.instances[3].id, image: Self.v2) == 0, "the US instance is left alone")
            let again = try await api.call(.post, fleet.rolloutPath + "/promote")
            again.expectError(.conflict, "invalid_state", message: "rollout \(done.id) is COMPLETE; only a live rollout can be promoted")
        }
    }

    @Test func skippedInstancesKeepTheirVersion() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 4)
            let scripts = try ApplyScripts()
            let held = try scripts.script(name: "held.sh", heldOnSuffix: ":2")
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: held) }
            defer { agents.forEach { $0.stop() } }
            try await eventually("every agent applied its first state") { scripts.runs.count == 4 }
            try await fleet.ship(api, tag: "2")
            let started = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 1))
                .decode(RolloutStatusResult.self)
            try await eventually("the first instance is in flight") { try await fleet.status(api).inProgress == 1 }
            let first = fleet.instances[0].id

            let inFlight = try await api.call(.post, fleet.rolloutPath + "/skip", json: SkipRolloutInstancesRequest(instanceIds: [fleet.instances[3].id, first]))
            inFlight.expectError(
                .conflict, "invalid_state", message: "instance \(first) is IN_PROGRESS in rollout \(started.id); only PENDING instances can be skipped")
            let unknown = try await api.call(.post, fleet.rolloutPath + "/skip", json: SkipRolloutInstancesRequest(instanceIds: ["inst-nothere"]))
            unknown.expectError(.notFound, "not_found", message: "instance inst-nothere is not part of rollout \(started.id)")
            let malformed = try await api.call(.post, fleet.rolloutPath + "/skip", json: SkipRolloutInstancesRequest(instanceIds: ["imgc-1"]))
            malformed.expectError(
                .badRequest, "bad_request", message: "instanceIds holds 'imgc-1', which is not a valid instance id such as 'inst-3f9aK2mQx7Lp'")
            let none = try await api.call(.post, fleet.rolloutPath + "/skip", json: SkipRolloutInstancesRequest(instanceIds: []))
            none.expectError(.badRequest, "bad_request", message: "instanceIds must name at least one instance")

            let skipped = try await api.call(
                .post, fleet.rolloutPath + "/skip", json: SkipRolloutInstancesRequest(instanceIds: [fleet.instances[2].id, fleet.instances[3].id]))
            #expect(skipped.status == .ok, "\(skipped.body)")
            let afterSkip = try skipped.decode(RolloutStatusResult.self)
            #expect(afterSkip.skipped == 2 && afterSkip.pending == 1)
            scripts.release()
            let done = try await waitForRollout(api, fleet, "COMPLETE")
            #expect(done.completed == 2 && done.skipped == 2)
            #expect(done.message == "complete: 2 instance(s) upgraded to 2.0, 2 skipped")
            for index in 2...3 {
                #expect(scripts.runs(of: fleet.instances[index].id, image: Self.v2) == 0)
                let instance = try await api.call(.get, "\(fleet.instancePath)/\(fleet.instances[index].id)").decode(InstanceResult.self)
                #expect(instance.tierVersion == "1.0" && instance.desiredTierVersion == "1.0")
            }
            let rows = try await fleet.rolloutInstances(api)
            #expect(rows.filter { $0.status == "SKIPPED" }.map(\.reason) == Array(
                repeating: "skipped by an operator (POST …/rollout/skip) before it started", count: 2))
        }
    }

    @Test func badTargetingScheduleAndGateInputsGetExactErrors() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 2)
            try await fleet.ship(api, tag: "2")
            let instance = "\(fleet.instancePath)/\(fleet.instances[0].id)"

            try await api.call(.patch, instance, json: UpdateInstanceRequest(labels: ["region": "eu west"])).expectError(
                .badRequest, "bad_request",
                message: "labels value 'eu west' of 'region' is not valid: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
            try await api.call(.patch, instance, body: "{}").expectError(.badRequest, "bad_request", message: "field 'labels' is required")
            let tooMany = Dictionary(uniqueKeysWithValues: (0..<33).map { ("k\($0)", "v") })
            try await api.call(.patch, instance, json: UpdateInstanceRequest(labels: tooMany)).expectError(
                .badRequest, "bad_request", message: "labels must have at most 32 labels, got 33")
            try await api.call(
                .post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fleet.fixture.productTierId, name: "n", labels: ["/x": "y"])
            ).expectError(
                .badRequest, "bad_request",
                message: "labels key '/x' is not valid: use 1 to 63 letters, digits, '-', '_', '.' or '/', starting and ending with a letter or digit")
            #expect(try await api.call(.patch, instance, json: UpdateInstanceRequest(labels: [:])).decode(InstanceResult.self).labels == [:])

            func start(_ body: String) async throws -> Reply { try await api.call(.post, fleet.rolloutPath, body: body) }
            try await start(#"{"selector": {}}"#).expectError(
                .badRequest, "bad_request", message: "selector must give instanceIds, labels or both; leave it out to take every instance")
            try await start(#"{"selector": {"instanceIds": ["inst-nothere"]}}"#).expectError(
                .badRequest, "bad_request",
                message: "selector.instanceIds names inst-nothere, which is not an instance of service environment \(fleet.fixture.environmentId)")
            try await start(#"{"scheduledAt": "tomorrow"}"#).expectError(
                .badRequest, "bad_request", message: #"scheduledAt must be an RFC 3339 date-time such as 2026-12-24T09:00:00Z, got "tomorrow""#)
            try await start(#"{"scheduledAt": "2020-01-01T00:00:00Z"}"#).expectError(
                .badRequest, "bad_request", containing: "scheduledAt 2020-01-01T00:00:00Z is not in the future")
            try await start(#"{"pauseAfterCanary": true}"#).expectError(
                .badRequest, "bad_request", message: "pauseAfterCanary needs a canary wave: set canaryCount to 1 or more")
            try await start(#"{"pausedTimeoutSeconds": 5}"#).expectError(
                .badRequest, "bad_request", message: "pausedTimeoutSeconds must be from 60 to 2592000, got 5")

            // A scheduled rollout can be paused, resumed into its schedule, and cancelled before it starts.
            let later = Date().addingTimeInterval(3600).formatted(.iso8601)
            let scheduled = try await start(#"{"scheduledAt": "\#(later)"}"#)
            #expect(scheduled.status == .ok, "\(scheduled.body)")
            try await api.call(.post, fleet.rolloutPath + "/promote").expectError(
                .conflict, "invalid_state",
                message: "rollout \(try scheduled.decode(RolloutStatusResult.self).id) does not wait to be promoted: "
                    + "its policy has no pauseAfterCanary (with a canaryCount and more than one wave)")
            #expect(try await api.call(.post, fleet.rolloutPath + "/pause").decode(RolloutStatusResult.self).pausedAt != nil)
            #expect(try await api.call(.post, fleet.rolloutPath + "/resume").decode(RolloutStatusResult.self).status == "SCHEDULED")
            // Its target can change before it starts: back to 1.0 here.
            let retargeted = try await api.call(.post, fleet.rolloutPath + "/target-version", json: RetargetRolloutRequest(version: "1.0"))
            #expect(retargeted.status == .ok, "\(retargeted.body)")
            #expect(try retargeted.decode(RolloutStatusResult.self).targetVersions == ["1.0"])
            #expect(try await fleet.rolloutInstances(api).map(\.targetVersion) == ["1.0", "1.0"])
            try await api.call(.post, fleet.rolloutPath + "/target-version", json: RetargetRolloutRequest(version: "9.0")).expectError(
                .notFound, "not_found", message: "product tier \(fleet.fixture.productTierId) has no version '9.0'")
            try await start("{}").expectError(.conflict, "invalid_state", containing: "is still SCHEDULED")
            let cancelled = try await api.call(.post, fleet.rolloutPath + "/cancel").decode(RolloutStatusResult.self)
            #expect(cancelled.status == "CANCELLED" && cancelled.skipped == 2)
            try await api.call(.post, fleet.rolloutPath + "/target-version", json: RetargetRolloutRequest(version: "2.0")).expectError(
                .conflict, "invalid_state",
                message: "rollout \(cancelled.id) is CANCELLED; only a rollout that has not started (SCHEDULED, or PAUSED before it started) can change its target")
        }
    }

    @Test func outsideItsMaintenanceWindowNothingStartsAndTheStatusSaysWhenItOpens() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 2)
            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
            defer { agents.forEach { $0.stop() } }
            try await eventually("every agent applied its first state") { scripts.runs.count == 2 }
            try await fleet.ship(api, tag: "2")

            // A window that opened an hour ago and closed a minute ago, on every day: the next one opens in about 22 h.
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = .gmt
            func time(_ date: Date) -> String { String(format: "%02d:%02d", utc.component(.hour, from: date), utc.component(.minute, from: date)) }
            let now = Date()
            let window = MaintenanceWindowWire(start: time(now.addingTimeInterval(-3600)), end: time(now.addingTimeInterval(-60)))
            let started = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maintenanceWindow: window))
            #expect(started.status == .ok, "\(started.body)")
            var waiting: RolloutStatusResult?
            try await eventually("the rollout waits for its window") {
                waiting = try await fleet.status(api)
                return waiting?.windowOpensAt != nil
            }
            let opensAt = try #require(waiting?.windowOpensAt.flatMap { try? Date($0, strategy: .iso8601) })
            #expect(opensAt > now.addingTimeInterval(21 * 3600) && opensAt < now.addingTimeInterval(23 * 3600), "\(opensAt)")
            #expect(waiting?.status == "RUNNING" && waiting?.pending == 2)
            #expect(waiting?.message.hasPrefix("outside its maintenance window (every day \(window.start)–\(window.end) UTC): 2 instance(s) wait until it opens at ") == true)
            #expect(waiting?.policy.maintenanceWindow == MaintenanceWindowWire(
                days: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"], start: window.start, end: window.end, timeZone: "UTC"))
            try await Task.sleep(for: .seconds(1))
            #expect(scripts.runs.filter { $0.image == Self.v2 }.isEmpty)

            let bad = try await api.call(.post, fleet.rolloutPath, body: #"{"maintenanceWindow": {"start": "22:00", "end": "02:00", "timeZone": "Mars/Olympus"}}"#)
            bad.expectError(.badRequest, "bad_request", message: "maintenanceWindow.timeZone must be an IANA time zone such as Europe/Berlin, got 'Mars/Olympus'")
            let privateCheck = try await api.call(.post, fleet.rolloutPath, body: #"{"analysis": {"url": "http://127.0.0.1:9/health"}}"#)
            privateCheck.expectError(
                .badRequest, "bad_request",
                message: "url http://127.0.0.1:9/health points at a loopback address; analysis may not reach it unless slipwayd runs with --webhook-allow-private")
            let noSource = try await api.call(.post, fleet.rolloutPath, body: #"{"analysis": {"intervalSeconds": 10}}"#)
            noSource.expectError(
                .badRequest, "bad_request", message: "analysis must give either url (an HTTP check) or prometheusUrl and query (a Prometheus query)")
            #expect(try await api.call(.post, fleet.rolloutPath + "/cancel").decode(RolloutStatusResult.self).status == "CANCELLED")
        }
    }

    @Test func anOlderVersionPromotedIsAWayBackAndADeprecatedOneTakesNoNewInstance() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            let fleet = try await Fleet.make(api, instances: 2)
            let scripts = try ApplyScripts()
            let apply = try scripts.script(name: "apply.sh")
            let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
            defer { agents.forEach { $0.stop() } }
            try await eventually("every agent applied its first state") { scripts.runs.count == 2 }
            try await fleet.ship(api, tag: "2")
            _ = try await api.call(.post, fleet.rolloutPath)
            _ = try await waitForRollout(api, fleet, "COMPLETE")

            let sets = "/2022-09-01-00/service/\(fleet.fixture.serviceId)/productTier/\(fleet.fixture.productTierId)/version-set"
            let diff = try await api.call(.get, "\(sets)/1.0/diff/2.0").decode(TierVersionDiffResult.self)
            #expect(diff.from == "1.0" && diff.to == "2.0" && diff.imageConfigs.map(\.change) == ["changed"])
            #expect(diff.imageConfigs.first?.fields.first == FieldChangeResult(field: "image", before: "docker.io/acme/app:1", after: "docker.io/acme/app:2"))
            try await api.call(.get, "\(sets)/1.0/diff/9.0").expectError(.notFound, "not_found", message: "product tier \(fleet.fixture.productTierId) has no version '9.0'")

            // Back to 1.0: promote it, and roll out.
            let promoted = try await api.call(.post, "\(sets)/1.0/promote").decode(TierVersionSetResult.self)
            #expect(promoted.status == "Preferred")
            #expect(try await api.call(.get, "\(sets)/2.0").decode(TierVersionSetResult.self).status == "Active")
            let back = try await api.call(.post, fleet.rolloutPath).decode(RolloutStatusResult.self)
            #expect(back.targetVersions == ["1.0"] && back.total == 2)
            _ = try await waitForRollout(api, fleet, "COMPLETE")
            for instance in fleet.instances { #expect(scripts.runs(of: instance.id, image: "docker.io/acme/app:1") == 2) }

            try await api.call(.post, "\(sets)/1.0/promote").expectError(
                .conflict, "invalid_state", message: "version 1.0 of product tier \(fleet.fixture.productTierId) is already Preferred")
            try await api.call(.post, "\(sets)/1.0/deprecate").expectError(
                .conflict, "invalid_state",
                message: "version 1.0 of product tier \(fleet.fixture.productTierId) is Preferred; promote another version before deprecating it")
            #expect(try await api.call(.post, "\(sets)/2.0/deprecate").decode(TierVersionSetResult.self).status == "Deprecated")
            try await api.call(
                .post, fleet.instancePath, json: RegisterInstanceRequest(productTierId: fleet.fixture.productTierId, name: "late", tierVersion: "2.0")
            ).expectError(
                .conflict, "invalid_state",
                message: "version 2.0 of product tier \(fleet.fixture.productTierId) is Deprecated: no new instance may run it; register at the Preferred version")
            try await api.call(.post, "\(sets)/2.0/promote").expectError(
                .conflict, "invalid_state",
                message: "version 2.0 of product tier \(fleet.fixture.productTierId) is Deprecated; a deprecated version cannot become Preferred")

            // Release notes: given on release, changed by PATCH.
            #expect(try await api.call(.patch, fleet.fixture.imageConfigPath, json: UpdateImageConfigRequest(imageTag: "3")).status == .ok)
            let released = try await api.call(
                .post, fleet.fixture.imageConfigPath + "/release", json: ReleaseImageConfigRequest(releaseNotes: "tag 3: the fix for the leak"))
            #expect(released.status == .ok, "\(released.body)")
            #expect(try await api.call(.get, "\(sets)/3.0").decode(TierVersionSetResult.self).releaseNotes == "tag 3: the fix for the leak")
            let edited = try await api.call(.patch, "\(sets)/3.0", json: UpdateTierVersionSetRequest(releaseNotes: "tag 3: the leak fixed\nsee #42"))
            #expect(try edited.decode(TierVersionSetResult.self).releaseNotes == "tag 3: the leak fixed\nsee #42")
            try await api.call(.patch, "\(sets)/3.0", json: UpdateTierVersionSetRequest(releaseNotes: "bell\u{7}")).expectError(
                .badRequest, "bad_request", message: "releaseNotes must not contain control characters")
            #expect(try await api.call(.patch, "\(sets)/3.0", json: UpdateTierVersionSetRequest(releaseNotes: "")).decode(TierVersionSetResult.self)
                .releaseNotes == nil)
        }
    }
}
