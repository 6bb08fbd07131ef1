import Foundation

/// Durable webhooks and their deliveries. Deliveries are queued by the store itself, in the transaction of
/// the event they tell of (a release, a rollout's move, an instance that failed), so a crash loses none.
public protocol WebhookStore: Sendable {
    /// `sealedSecret` is the signing secret as ``SecretBox`` sealed it for `id`.
    func createWebhook(
        id: String, organizationId: String, url: String, events: [WebhookEventKind], sealedSecret: String, createdBy: String, now: Date
    ) async throws -> Webhook
    func webhooks(organizationId: String, page: PageRequest) async throws -> Page<Webhook>
    func webhook(id: String, organizationId: String) async throws -> Webhook
    /// Its queued and past deliveries go with it.
    func deleteWebhook(id: String, organizationId: String) async throws
    /// Newest first.
    func webhookDeliveries(webhookId: String, organizationId: String, page: PageRequest) async throws -> Page<WebhookDelivery>
    /// Takes up to `limit` deliveries due at `now`, each held for `lease` seconds so that no other sender takes it
    /// meanwhile; with the URL and the sealed secret of its webhook.
    func claimDueDeliveries(now: Date, limit: Int, lease: TimeInterval) async throws -> [DueDelivery]
    /// Records an attempt's outcome (``WebhookDelivery/attempted(statusCode:error:now:)``).
    func recordDeliveryAttempt(_ delivery: WebhookDelivery) async throws
}

/// A delivery to send now, and where.
public struct DueDelivery: Sendable {
    public var delivery: WebhookDelivery
    public var url: String
    public var sealedSecret: String

    public init(delivery: WebhookDelivery, url: String, sealedSecret: String) {
        self.delivery = delivery
        self.url = url
        self.sealedSecret = sealedSecret
    }
}
