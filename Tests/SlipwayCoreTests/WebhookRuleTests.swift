import Foundation
import SlipwayCore
import Testing

/// Webhook rules without a network: which moves are events, where a webhook may send, how a delivery retries.
@Suite("Webhook rules")
struct WebhookRuleTests {
    @Test func aRolloutsMovesAreItsEvents() {
        #expect(WebhookEventKind.rolloutMoved(from: .pending, to: .running) == .rolloutStarted)
        #expect(WebhookEventKind.rolloutMoved(from: .pendingDependency, to: .running) == .rolloutStarted)
        #expect(WebhookEventKind.rolloutMoved(from: .paused, to: .running) == .rolloutResumed)
        #expect(WebhookEventKind.rolloutMoved(from: .running, to: .paused) == .rolloutPaused)
        #expect(WebhookEventKind.rolloutMoved(from: .running, to: .failed) == .rolloutHalted)
        #expect(WebhookEventKind.rolloutMoved(from: .running, to: .complete) == .rolloutCompleted)
        #expect(WebhookEventKind.rolloutMoved(from: .paused, to: .cancelled) == .rolloutCancelled)
        #expect(WebhookEventKind.rolloutMoved(from: .scheduled, to: .pendingDependency) == nil)
        #expect(WebhookEventKind.rolloutMoved(from: .running, to: .running) == nil)
    }

    @Test func theMachineSaysWhatWebhooksHear() {
        var run = RolloutEventTests.Run(instances: 2, policy: RolloutEventTests.policy { $0.maxConcurrentUpgrades = 1 })
        var events: [WebhookEventKind] = []
        func collect(_ effects: RolloutStateMachine.Effects) { events += effects.events.map(\.kind) }
        _ = run.machine.takeEffects()
        run.machine.perform(.start, now: RolloutEventTests.t0)
        collect(run.machine.takeEffects())
        run.machine.startWave(0, members: run.members(wave: 0), now: RolloutEventTests.t0)
        run.apply()
        _ = run.machine.report(
            AgentReport(tierVersion: "2.0", status: .failed, message: "exit 3", health: nil, generation: nil), on: run.rows["inst-0"]!,
            desiredGeneration: 1, now: RolloutEventTests.t0)
        let instanceEffects = run.machine.takeInstanceEffects()
        collect(instanceEffects)
        #expect(instanceEffects.events.first?.instance?.instanceId == "inst-0")
        run.machine.halt(pending: [run.rows["inst-1"]!], completed: [], now: RolloutEventTests.t0)
        collect(run.machine.takeEffects())
        #expect(events == [.rolloutStarted, .instanceFailed, .rolloutHalted])
    }

    @Test func privateAndLinkLocalAddressesAreRefused() {
        for (host, reason) in [
            ("127.0.0.1", "a loopback address"), ("localhost", "this machine (localhost)"), ("10.0.0.8", "a private address"),
            ("172.20.1.1", "a private address"), ("192.168.1.1", "a private address"), ("169.254.169.254", "a link-local address"),
            ("0.0.0.0", "an unspecified address"), ("100.64.0.1", "a shared (carrier-grade NAT) address"), ("::1", "a loopback address"),
            ("fe80::1", "a link-local address"), ("fd00::1", "a unique-local (private) address"), ("::ffff:10.0.0.1", "a private address"),
        ] {
            #expect(WebhookAddress.refusal(host: host) == reason, "\(host)")
        }
        for host in ["8.8.8.8", "172.32.0.1", "hooks.example.com", "2001:db8::1"] {
            #expect(WebhookAddress.refusal(host: host) == nil, "\(host)")
        }
        #expect(throws: Never.self) { try WebhookAddress.check(url: "http://127.0.0.1:9/x", allowPrivate: true) }
    }

    @Test func aDeliveryRetriesWithBackoffThenGivesUp() {
        let t0 = Date(timeIntervalSince1970: 1_000)
        var delivery = WebhookDelivery(
            id: "whd-1", webhookId: "wh-1", event: .release, payload: "{}", status: .pending, attempts: 0, nextAttemptAt: t0, lastStatusCode: nil,
            lastError: nil, createdAt: t0, deliveredAt: nil)
        delivery.attempted(statusCode: 500, error: nil, now: t0)
        #expect(delivery.status == .pending && delivery.nextAttemptAt == t0.addingTimeInterval(5) && delivery.lastError == "the receiver answered 500")
        delivery.attempted(statusCode: nil, error: "no answer: connection refused", now: t0)
        #expect(delivery.nextAttemptAt == t0.addingTimeInterval(10) && delivery.lastError == "no answer: connection refused")
        #expect(WebhookDelivery.backoff(afterAttempts: 11) == 3600)
        var given = delivery
        for _ in 2..<WebhookDelivery.maxAttempts { given.attempted(statusCode: 503, error: nil, now: t0) }
        #expect(given.status == .failed && given.nextAttemptAt == nil && given.attempts == 12)
        delivery.attempted(statusCode: 204, error: nil, now: t0)
        #expect(delivery.status == .delivered && delivery.deliveredAt == t0 && delivery.lastError == nil)
    }

    @Test func theSignatureIsTheHMACOfTheBody() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), the well-known vector.
        let body = Data("The quick brown fox jumps over the lazy dog".utf8)
        #expect(Webhook.signature(body: body, secret: "key") == "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
    }
}
