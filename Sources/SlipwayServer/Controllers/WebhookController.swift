import Foundation
import Hummingbird
import SlipwayCore
import SlipwayWire

/// Webhooks: where events are POSTed, signed. Secrets go in (sealed), never out.
struct WebhookController {
    let store: any WebhookStore
    let clock: SlipwayClock
    let secrets: SecretBox
    /// `--webhook-allow-private`: URLs may point at private and loopback addresses.
    let allowPrivate: Bool

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        api.post("webhook") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            let body = try await JSONBody.decode(CreateWebhookRequest.self, from: request)
            let events = try Webhook.validate(url: body.url, events: body.events, secret: body.secret, allowPrivate: allowPrivate)
            let id = Identifiers.new(.webhook)
            let webhook = try await store.createWebhook(
                id: id, organizationId: identity.organizationId, url: body.url, events: events, sealedSecret: try secrets.seal(body.secret, for: id),
                createdBy: identity.email, now: clock.now())
            return try JSONBody.response(webhook.id)
        }
        api.get("webhook") { request, context in
            let identity = try context.requireIdentity()
            let page = try await store.webhooks(organizationId: identity.organizationId, page: try request.pageRequest())
            return try JSONBody.response(ListWebhooksResult(webhooks: page.items.map(WebhookResult.init), nextPageToken: page.nextPageToken))
        }
        api.get("webhook/:webhookId") { _, context in
            let identity = try context.requireIdentity()
            return try JSONBody.response(WebhookResult(try await store.webhook(id: try context.path("webhookId"), organizationId: identity.organizationId)))
        }
        api.delete("webhook/:webhookId") { _, context in
            let identity = try context.requireIdentity()
            try identity.requireWrite()
            try await store.deleteWebhook(id: try context.path("webhookId"), organizationId: identity.organizationId)
            return JSONBody.empty()
        }
        api.get("webhook/:webhookId/deliveries") { request, context in
            let identity = try context.requireIdentity()
            let page = try await store.webhookDeliveries(
                webhookId: try context.path("webhookId"), organizationId: identity.organizationId, page: try request.pageRequest())
            return try JSONBody.response(
                ListWebhookDeliveriesResult(deliveries: page.items.map(WebhookDeliveryResult.init), nextPageToken: page.nextPageToken))
        }
    }
}

extension WebhookResult {
    init(_ webhook: Webhook) {
        self.init(
            id: webhook.id, url: webhook.url, events: webhook.events.map(\.rawValue), createdBy: webhook.createdBy, createdAt: webhook.createdAt.rfc3339)
    }
}

extension WebhookDeliveryResult {
    init(_ delivery: WebhookDelivery) {
        self.init(
            id: delivery.id, event: delivery.event.rawValue, status: delivery.status.rawValue, attempts: delivery.attempts,
            nextAttemptAt: delivery.status == .pending ? delivery.nextAttemptAt?.rfc3339 : nil, lastStatusCode: delivery.lastStatusCode,
            lastError: delivery.lastError, payload: delivery.payload, createdAt: delivery.createdAt.rfc3339, deliveredAt: delivery.deliveredAt?.rfc3339)
    }
}
