import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SlipwayCore

/// Sends the queued webhook deliveries: each due one POSTed, signed, with a timeout; a 2xx answer delivers
/// it, anything else schedules a retry with backoff until it is given up. Only the replica that drives
/// rollouts sends; a delivery it took and never answered for is taken again once its lease runs out, so a
/// delivery may arrive twice (its id says so) but is never lost.
actor WebhookSender: ServiceLifecycle.Service {
    private let store: any WebhookStore & FleetStore
    private let secrets: SecretBox
    private let clock: SlipwayClock
    private let egress: Egress
    private let logger: Logger
    /// How often the queue is looked at when it was empty.
    private let idlePoll: Duration

    static let batch = 16

    init(store: any WebhookStore & FleetStore, secrets: SecretBox, clock: SlipwayClock, egress: Egress, logger: Logger, idlePoll: Duration = .seconds(1)) {
        self.store = store
        self.secrets = secrets
        self.clock = clock
        self.egress = egress
        self.logger = logger
        self.idlePoll = idlePoll
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                var sent = 0
                do {
                    if self.store.drivesRollouts { sent = try await self.sendDue() }
                } catch {
                    self.logger.warning("webhook deliveries could not be read", metadata: ["error": "\(error)"])
                }
                if sent < Self.batch { try? await Task.sleep(for: self.idlePoll) }
            }
        }
    }

    /// Sends the deliveries due now, a batch at a time: webhooks in parallel, each one's deliveries in the order
    /// their events happened. Returns how many it took.
    func sendDue() async throws -> Int {
        let due = try await store.claimDueDeliveries(now: clock.now(), limit: Self.batch, lease: 60)
        var byWebhook: [String: [DueDelivery]] = [:]
        for item in due { byWebhook[item.delivery.webhookId, default: []].append(item) }
        await withTaskGroup(of: Void.self) { group in
            for items in byWebhook.values {
                group.addTask {
                    for item in items { await self.send(item) }
                }
            }
        }
        return due.count
    }

    private func send(_ item: DueDelivery) async {
        var delivery = item.delivery
        let (status, error) = await attempt(item)
        delivery.attempted(statusCode: status, error: error, now: clock.now())
        if delivery.status != .delivered {
            logger.info(
                "webhook delivery failed",
                metadata: ["delivery": "\(delivery.id)", "attempts": "\(delivery.attempts)", "error": "\(delivery.lastError ?? "")"])
        }
        do {
            try await store.recordDeliveryAttempt(delivery)
        } catch {
            // Its lease runs out and it is sent again: at least once.
            logger.warning("webhook delivery attempt not recorded", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
        }
    }

    /// One POST: the receiver's status, or why there was none.
    private func attempt(_ item: DueDelivery) async -> (Int?, String?) {
        let secret: String
        do {
            secret = try secrets.open(item.sealedSecret, for: item.delivery.webhookId)
        } catch {
            return (nil, "not sent: the webhook's secret cannot be opened with this server's secret key (\(error))")
        }
        let body = Data(item.delivery.payload.utf8)
        var request = HTTPClientRequest(url: item.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "slipwayd-webhooks")
        request.headers.add(name: "X-Slipway-Event", value: item.delivery.event.rawValue)
        request.headers.add(name: "X-Slipway-Delivery", value: item.delivery.id)
        request.headers.add(name: "X-Slipway-Signature", value: Webhook.signature(body: body, secret: secret))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            // The answer's body says nothing Slipway acts on; a little is read so the connection can be reused.
            return (try await egress.send(request, limit: 64 * 1024).status, nil)
        } catch let refused as EgressRefused {
            return (nil, refused.message)
        } catch {
            return (nil, "no answer: \(error)")
        }
    }
}
