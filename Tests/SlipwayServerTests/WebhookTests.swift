import Crypto
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import HTTPTypes
@testable import SlipwayServer
import SlipwayWire
import Testing

/// What a webhook receiver on 127.0.0.1 got, and how it answers: 500 to the first `failFirst` calls, then 204.
actor WebhookInbox {
    struct Call: Sendable {
        var event: String
        var delivery: String
        var signature: String
        var body: String
        var answered: HTTPResponse.Status = .noContent
    }

    private(set) var calls: [Call] = []
    private var failFirst: Int
    /// What `GET /health` answers, for a rollout's analysis; and how often it was asked.
    private(set) var health: HTTPResponse.Status = .ok
    private(set) var healthChecks = 0

    func setHealth(_ status: HTTPResponse.Status) { health = status }

    func checkHealth() -> HTTPResponse.Status {
        healthChecks += 1
        return health
    }

    init(failFirst: Int) { self.failFirst = failFirst }

    func receive(_ call: Call) -> HTTPResponse.Status {
        var call = call
        if failFirst > 0 {
            failFirst -= 1
            call.answered = .internalServerError
        }
        calls.append(call)
        return call.answered
    }

    /// The events delivered (answered 204), in the order they were, without repeats of a delivery.
    var events: [String] {
        var seen = Set<String>()
        return calls.filter { $0.answered == .noContent && seen.insert($0.delivery).inserted }.map(\.event)
    }
}

/// Runs `body` with a webhook receiver listening on 127.0.0.1; its URL is `http://127.0.0.1:PORT/hook`.
func withWebhookReceiver(failFirst: Int = 0, _ body: @Sendable (String, WebhookInbox) async throws -> Void) async throws {
    let inbox = WebhookInbox(failFirst: failFirst)
    let router = Router()
    router.post("hook") { request, _ -> Response in
        let bytes = try await request.body.collect(upTo: 1 << 20)
        let status = await inbox.receive(
            .init(
                event: request.headers[HTTPField.Name("X-Slipway-Event")!] ?? "", delivery: request.headers[HTTPField.Name("X-Slipway-Delivery")!] ?? "",
                signature: request.headers[HTTPField.Name("X-Slipway-Signature")!] ?? "", body: String(buffer: bytes)))
        return Response(status: status)
    }
    router.get("health") { _, _ -> Response in Response(status: await inbox.checkHealth()) }
    var logger = Logger(label: "receiver")
    logger.logLevel = .critical
    let (ports, portContinuation) = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
    let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }
        var reported = ports.makeAsyncIterator()
        guard let port = await reported.next() else { throw ServerDidNotStart() }
        do {
            try await body("http://127.0.0.1:\(port)/hook", inbox)
        } catch {
            await services.triggerGracefulShutdown()
            throw error
        }
        await services.triggerGracefulShutdown()
        try await group.waitForAll()
    }
}

@Suite("Webhooks")
struct WebhookTests {
    static let secret = "a-webhook-secret-of-32-bytes-ok!"

    static func configuration() async throws -> ServerConfiguration {
        var configuration = try await testConfiguration()
        configuration.webhookAllowPrivate = true
        return configuration
    }

    static func verify(_ call: WebhookInbox.Call) -> Bool {
        let code = HMAC<SHA256>.authenticationCode(for: Data(call.body.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return call.signature == "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    @Test func aReleaseARolloutAndAFailedInstanceAreDeliveredSignedAndRetried() async throws {
        try await withWebhookReceiver(failFirst: 1) { url, inbox in
            try await withServer(try await Self.configuration()) { api in
                let api = try await api.signIn()
                let created = try await api.call(
                    .post, "/2022-09-01-00/webhook",
                    json: CreateWebhookRequest(
                        url: url, events: ["release", "rollout.started", "rollout.halted", "rollout.completed", "instance.failed"], secret: Self.secret))
                #expect(created.status == .ok, "\(created.body)")
                let webhookId = try created.decode(String.self)
                let described = try await api.call(.get, "/2022-09-01-00/webhook/\(webhookId)")
                #expect(!described.body.contains(Self.secret), "the secret is never answered")
                #expect(try described.decode(WebhookResult.self).url == url)

                let fleet = try await Fleet.make(api, instances: 2)
                let scripts = try ApplyScripts()
                let apply = try scripts.script(name: "apply.sh", failOnSuffix: ":3")
                let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
                defer { agents.forEach { $0.stop() } }
                try await eventually("every agent applied its first state") { scripts.runs.count == 2 }
                try await fleet.ship(api, tag: "2")
                _ = try await api.call(.post, fleet.rolloutPath)
                _ = try await waitForRollout(api, fleet, "COMPLETE")
                try await fleet.ship(api, tag: "3")
                _ = try await api.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 1))
                _ = try await waitForRollout(api, fleet, "FAILED")

                let expected = [
                    "release", "release", "rollout.started", "rollout.completed", "release", "rollout.started", "instance.failed", "rollout.halted",
                ]
                // At least once, in order where nothing was retried: the first release, answered 500, came again later.
                do {
                    try await eventually("every event arrived") { await inbox.events.sorted() == expected.sorted() }
                } catch {
                    Issue.record("received \(await inbox.events)")
                    throw error
                }
                let calls = await inbox.calls
                #expect(calls.allSatisfy(Self.verify), "every body is signed with the secret")
                // The first answer was a 500: that delivery came again, under the same id, once answered 204; the others
                // arrived once each, in the order their events happened.
                let retriedDelivery = calls[0].delivery
                #expect(calls.count == 9 && calls[0].answered == .internalServerError)
                #expect(calls.filter { $0.delivery == retriedDelivery }.map(\.answered) == [.internalServerError, .noContent])
                #expect(calls.filter { $0.delivery != retriedDelivery }.map(\.event) == Array(expected.dropFirst()))
                let failed = try #require(calls.last { $0.event == "instance.failed" })
                let payload = try JSONSerialization.jsonObject(with: Data(failed.body.utf8)) as? [String: Any]
                let instance = payload?["instance"] as? [String: Any]
                #expect(instance?["id"] as? String == fleet.instances[0].id && instance?["name"] as? String == "node-00")
                #expect((instance?["reason"] as? String)?.hasPrefix("the agent reported failure") == true)
                #expect((payload?["rollout"] as? [String: Any])?["imageConfigId"] as? String == fleet.fixture.imageConfigId)

                // The receiver answers before the sender records the answer: the last delivery may still be SENDING for a moment.
                var deliveries = ListWebhookDeliveriesResult(deliveries: [])
                try await eventually("every delivery is recorded as delivered") {
                    deliveries = try await api.call(.get, "/2022-09-01-00/webhook/\(webhookId)/deliveries").decode(ListWebhookDeliveriesResult.self)
                    return deliveries.deliveries.count == 8 && deliveries.deliveries.allSatisfy { $0.status == "DELIVERED" }
                }
                let retried = try #require(deliveries.deliveries.last)
                #expect(retried.event == "release" && retried.attempts == 2 && retried.lastStatusCode == 204)
            }
        }
    }

    @Test func badWebhooksGetExactErrors() async throws {
        try await withServer { api in
            let api = try await api.signIn()
            func create(_ url: String, _ events: [String] = ["release"], secret: String = Self.secret) async throws -> Reply {
                try await api.call(.post, "/2022-09-01-00/webhook", json: CreateWebhookRequest(url: url, events: events, secret: secret))
            }
            try await create("ftp://hooks.example.com/x").expectError(
                .badRequest, "bad_request", message: "url must be an http or https URL such as https://hooks.example.com/slipway, got 'ftp://hooks.example.com/x'")
            try await create("http://127.0.0.1:9/hook").expectError(
                .badRequest, "bad_request",
                message: "url http://127.0.0.1:9/hook points at a loopback address; webhooks may not reach it unless slipwayd runs with --webhook-allow-private")
            try await create("https://10.1.2.3/hook").expectError(.badRequest, "bad_request", containing: "points at a private address")
            try await create("https://[fe80::1]/hook").expectError(.badRequest, "bad_request", containing: "points at a link-local address")
            try await create("https://169.254.169.254/latest").expectError(.badRequest, "bad_request", containing: "points at a link-local address")
            try await create("https://hooks.example.com/x", ["rollout.exploded"]).expectError(
                .badRequest, "bad_request",
                message: "events must be among release, rollout.started, rollout.paused, rollout.resumed, rollout.halted, rollout.completed, "
                    + "rollout.cancelled, instance.failed, got 'rollout.exploded'")
            try await create("https://hooks.example.com/x", []).expectError(.badRequest, "bad_request", message: "events must name at least one event")
            try await create("https://hooks.example.com/x", secret: "short").expectError(
                .badRequest, "bad_request", message: "secret must be 16 to 256 bytes, got 5")
            try await create("https://user:pw@hooks.example.com/x").expectError(
                .badRequest, "bad_request", message: "url must not carry a user or password; sign deliveries with the secret instead")

            // A public URL is taken; deleting it takes its deliveries along.
            let created = try await create("https://hooks.example.com/x")
            #expect(created.status == .ok, "\(created.body)")
            let id = try created.decode(String.self)
            #expect(try await api.call(.get, "/2022-09-01-00/webhook").decode(ListWebhooksResult.self).webhooks.map(\.id) == [id])
            #expect(try await api.call(.delete, "/2022-09-01-00/webhook/\(id)").status == .ok)
            try await api.call(.get, "/2022-09-01-00/webhook/\(id)").expectError(.notFound, "not_found", message: "webhook \(id) not found")
            try await api.call(.get, "/2022-09-01-00/webhook/\(id)/deliveries").expectError(.notFound, "not_found", message: "webhook \(id) not found")
        }
    }

    @Test func aDeliveryQueuedWhenTheServerStopsIsSentAfterItStartsAgain() async throws {
        try await withWebhookReceiver(failFirst: 1) { url, inbox in
            var configuration = try await Self.configuration()
            let database = configuration.database
            try await withServer(configuration) { api in
                let api = try await api.signIn()
                let created = try await api.call(.post, "/2022-09-01-00/webhook", json: CreateWebhookRequest(url: url, events: ["release"], secret: Self.secret))
                #expect(created.status == .ok, "\(created.body)")
                let webhookId = try created.decode(String.self)
                _ = try await Fleet.make(api, instances: 0)
                // The first attempt is answered 500 and recorded (the receiver answers before the sender writes);
                // the retry is due in 5 s, after this server has stopped.
                try await eventually("the first attempt, recorded") {
                    let deliveries = try await api.call(.get, "/2022-09-01-00/webhook/\(webhookId)/deliveries").decode(ListWebhookDeliveriesResult.self)
                    return deliveries.deliveries.first?.attempts == 1 && deliveries.deliveries.first?.nextAttemptAt != nil
                }
                #expect(await inbox.calls.count == 1)
            }
            configuration = try await testConfiguration(database: database)
            configuration.webhookAllowPrivate = true
            try await withServer(configuration) { _ in
                try await eventually("the retry, from the restarted server", within: 30) { await inbox.events == ["release"] }
            }
            let calls = await inbox.calls
            #expect(calls.count == 2 && calls[0].delivery == calls[1].delivery && calls.allSatisfy(Self.verify))
        }
    }

    /// The whole story: the EU instances only, scheduled a few seconds ahead, a canary that waits for promote and
    /// an HTTP analysis; SCHEDULED, the canary, PAUSED, promoted, and halted once the check fails, while a webhook
    /// receiver gets each event, signed.
    @Test func aScheduledGatedAnalysedRolloutOfTheEUInstancesHaltsWhenItsCheckFails() async throws {
        try await withWebhookReceiver { url, inbox in
            try await withServer(try await Self.configuration()) { api in
                let api = try await api.signIn()
                let created = try await api.call(
                    .post, "/2022-09-01-00/webhook",
                    json: CreateWebhookRequest(
                        url: url, events: ["rollout.started", "rollout.paused", "rollout.resumed", "rollout.halted", "rollout.completed"],
                        secret: Self.secret))
                #expect(created.status == .ok, "\(created.body)")
                let fleet = try await Fleet.make(api, instances: 4)
                for (index, region) in ["eu", "eu", "us", "eu"].enumerated() {
                    let labelled = try await api.call(
                        .patch, "\(fleet.instancePath)/\(fleet.instances[index].id)", json: UpdateInstanceRequest(labels: ["region": region]))
                    #expect(labelled.status == .ok)
                }
                let scripts = try ApplyScripts()
                let apply = try scripts.script(name: "apply.sh")
                let agents = try fleet.instances.map { try AgentProcess(server: api.serverURL, token: $0.agentToken, applyCommand: apply) }
                defer { agents.forEach { $0.stop() } }
                try await eventually("every agent applied its first state") { scripts.runs.count == 4 }
                try await fleet.ship(api, tag: "2")

                let health = url.replacingOccurrences(of: "/hook", with: "/health")
                let started = try await api.call(
                    .post, fleet.rolloutPath,
                    json: RolloutPolicyRequest(
                        maxConcurrentUpgrades: 1, canaryCount: 1, selector: RolloutSelectorWire(labels: ["region": "eu"]), pauseAfterCanary: true,
                        scheduledAt: Date().addingTimeInterval(8).formatted(.iso8601),
                        analysis: RolloutAnalysisWire(url: health, intervalSeconds: 5, failureLimit: 1)))
                #expect(started.status == .ok, "\(started.body)")
                let scheduled = try started.decode(RolloutStatusResult.self)
                #expect(scheduled.status == "SCHEDULED" && scheduled.total == 3 && scheduled.policy.analysis?.url == health)

                let paused = try await waitForRollout(api, fleet, "PAUSED", within: 60)
                #expect(paused.awaitingPromotion == true && paused.completed == 1)
                #expect(paused.lastAnalysis == "GET \(health) answered 200" && paused.analysisFailures == 0)
                #expect(await inbox.healthChecks >= 1, "measured after the canary, with nothing in flight")
                // The check starts failing as the rollout is promoted: the next measurement (during the second wave, or
                // after it) halts it before the third wave may start.
                await inbox.setHealth(.serviceUnavailable)
                #expect(try await api.call(.post, fleet.rolloutPath + "/promote").status == .ok)
                let halted = try await waitForRollout(api, fleet, "FAILED", within: 60)
                #expect((1...2).contains(halted.completed) && halted.completed + halted.skipped == 3 && halted.analysisFailures == 1)
                #expect(halted.message.hasPrefix("failed: the analysis failed 1 time(s) (GET \(health) answered 503, expected 200)"), "\(halted.message)")
                #expect(scripts.runs(of: fleet.instances[2].id, image: "docker.io/acme/app:2") == 0, "the US instance is left alone")
                #expect(scripts.runs(of: fleet.instances[3].id, image: "docker.io/acme/app:2") == 0, "the third wave never started")

                try await eventually("every event arrived") { await inbox.events.count == 4 }
                #expect(await inbox.events == ["rollout.started", "rollout.paused", "rollout.resumed", "rollout.halted"])
                #expect(await inbox.calls.allSatisfy(Self.verify))
            }
        }
    }
}
