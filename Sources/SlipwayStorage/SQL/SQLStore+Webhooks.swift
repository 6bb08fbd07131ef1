import Foundation
import SlipwayCore

// Webhooks and the durable queue of their deliveries. Events are queued here, in the transaction that
// makes them true; a sender takes due deliveries with a lease, so a replica that dies mid-send leaves them
// for another once the lease runs out (at least once).

extension SQLStore: WebhookStore {
    public func createWebhook(
        id: String, organizationId: String, url: String, events: [WebhookEventKind], sealedSecret: String, createdBy: String, now: Date
    ) async throws -> Webhook {
        try await write { db in
            let webhook = Webhook(id: id, organizationId: organizationId, url: url, events: events, createdBy: createdBy, createdAt: now)
            try db.cachedExecute(
                sql: "INSERT INTO webhooks (id, organization_id, url, events, secret, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [id, organizationId, url, encodeJSON(events.map(\.rawValue)), sealedSecret, createdBy, now])
            return webhook
        }
    }

    static func webhook(_ row: SQLRow) -> Webhook {
        Webhook(
            id: row["id"], organizationId: row["organization_id"], url: row["url"],
            events: (decodeJSON(row["events"]) as [String]? ?? []).compactMap(WebhookEventKind.init(rawValue:)), createdBy: row["created_by"],
            createdAt: row["created_at"])
    }

    static func webhook(id: String, organizationId: String, _ db: any SQLSession) throws -> Webhook {
        guard let row = try db.cachedRow(sql: "SELECT * FROM webhooks WHERE id = ? AND organization_id = ?", arguments: [id, organizationId]) else {
            throw SlipwayError.notFound(.webhook, id)
        }
        return webhook(row)
    }

    public func webhooks(organizationId: String, page: PageRequest) async throws -> Page<Webhook> {
        try await read { db in
            try Self.page(db, sql: "SELECT * FROM webhooks WHERE organization_id = ?", arguments: [organizationId], page: page) { Self.webhook($0) }
        }
    }

    public func webhook(id: String, organizationId: String) async throws -> Webhook {
        try await read { db in try Self.webhook(id: id, organizationId: organizationId, db) }
    }

    public func deleteWebhook(id: String, organizationId: String) async throws {
        try await write { db in
            _ = try Self.webhook(id: id, organizationId: organizationId, db)
            try db.cachedExecute(sql: "DELETE FROM webhook_deliveries WHERE webhook_id = ?", arguments: [id])
            try db.cachedExecute(sql: "DELETE FROM webhooks WHERE id = ?", arguments: [id])
        }
    }

    static func delivery(_ row: SQLRow) -> WebhookDelivery {
        let next: Double? = row["next_attempt_at"]
        let code: Int? = row["last_status_code"]
        return WebhookDelivery(
            id: row["id"], webhookId: row["webhook_id"], event: WebhookEventKind(rawValue: row["event"]) ?? .release, payload: row["payload"],
            status: WebhookDelivery.Status(rawValue: row["status"]) ?? .failed, attempts: row["attempts"],
            nextAttemptAt: next.map(Date.init(timeIntervalSince1970:)), lastStatusCode: code, lastError: row["last_error"],
            createdAt: row["created_at"], deliveredAt: row["delivered_at"])
    }

    public func webhookDeliveries(webhookId: String, organizationId: String, page: PageRequest) async throws -> Page<WebhookDelivery> {
        try await read { db in
            _ = try Self.webhook(id: webhookId, organizationId: organizationId, db)
            // Newest first: the page cursor counts down.
            var arguments: [any SQLBindable] = [webhookId]
            var sql = "SELECT * FROM webhook_deliveries WHERE webhook_id = ?"
            if let after = page.after {
                sql += " AND seq < ?"
                arguments.append(after)
            }
            let rows = try db.cachedRows(sql: sql + " ORDER BY seq DESC LIMIT ?", arguments: arguments + [page.size + 1])
            let items = Array(rows.prefix(page.size))
            let next: Int64? = rows.count > page.size ? items.last?["seq"] : nil
            return Page(items: items.map(Self.delivery), nextCursor: next)
        }
    }

    public func claimDueDeliveries(now: Date, limit: Int, lease: TimeInterval) async throws -> [DueDelivery] {
        try await write { db in
            // The outer condition is checked again on the row a concurrent sender may just have claimed.
            let rows = try db.cachedRows(
                sql: """
                    UPDATE webhook_deliveries SET next_attempt_at = ?
                    WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'PENDING' AND next_attempt_at <= ? ORDER BY seq LIMIT ?)
                    AND status = 'PENDING' AND next_attempt_at <= ?
                    RETURNING *
                    """,
                arguments: [now.addingTimeInterval(lease).timeIntervalSince1970, now.timeIntervalSince1970, limit, now.timeIntervalSince1970])
            // RETURNING gives no order: the events' order is their sequence.
            return try rows.sorted { ($0["seq"] as Int64) < ($1["seq"] as Int64) }.map { row in
                let delivery = Self.delivery(row)
                var claimed = delivery
                claimed.nextAttemptAt = now
                guard let hook = try db.cachedRow(sql: "SELECT url, secret FROM webhooks WHERE id = ?", arguments: [delivery.webhookId]) else {
                    throw SlipwayError.notFound(.webhook, delivery.webhookId)
                }
                return DueDelivery(delivery: claimed, url: hook["url"], sealedSecret: hook["secret"])
            }
        }
    }

    public func recordDeliveryAttempt(_ delivery: WebhookDelivery) async throws {
        try await write { db in
            try db.cachedExecute(
                sql: """
                    UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_status_code = ?, last_error = ?, delivered_at = ?
                    WHERE id = ?
                    """,
                arguments: [
                    delivery.status.rawValue, delivery.attempts, delivery.nextAttemptAt?.timeIntervalSince1970, delivery.lastStatusCode,
                    delivery.lastError, delivery.deliveredAt, delivery.id,
                ])
        }
    }

    // MARK: Queueing, inside the event's transaction

    /// Queues `payload` for every webhook of the organization that listens to `event`.
    static func enqueueWebhookEvent(
        _ event: WebhookEventKind, organizationId: String, now: Date, _ db: any SQLSession, payload: (inout WebhookPayload) -> Void
    ) throws {
        let hooks = try db.cachedRows(sql: "SELECT id, events FROM webhooks WHERE organization_id = ?", arguments: [organizationId])
        for hook in hooks where (decodeJSON(hook["events"]) as [String]? ?? []).contains(event.rawValue) {
            let id = Identifiers.random(length: 12)
            var body = WebhookPayload(id: "whd-\(id)", event: event, occurredAt: now, organizationId: organizationId)
            payload(&body)
            try db.cachedExecute(
                sql: """
                    INSERT INTO webhook_deliveries (id, webhook_id, event, payload, status, attempts, next_attempt_at, created_at)
                    VALUES (?, ?, ?, ?, 'PENDING', 0, ?, ?)
                    """,
                arguments: ["whd-\(id)", hook["id"] as String, event.rawValue, body.encoded(), now.timeIntervalSince1970, now])
        }
    }

    /// Queues what a rollout's machine said webhooks hear of.
    static func enqueueRolloutEvents(_ events: [RolloutStateMachine.Event], rollout: Rollout, _ db: any SQLSession) throws {
        for event in events {
            try enqueueWebhookEvent(event.kind, organizationId: rollout.organizationId, now: rollout.updatedAt, db) { body in
                body.rollout = WebhookPayload.rolloutFacts(rollout)
                if let row = event.instance {
                    let name = row.instanceName.isEmpty
                        ? (try? db.cachedValue(String.self, sql: "SELECT name FROM instances WHERE id = ?", arguments: [row.instanceId])) ?? nil
                        : row.instanceName
                    body.instance = .init(
                        id: row.instanceId, name: name ?? "", sourceVersion: row.sourceVersion, targetVersion: row.targetVersion, reason: row.reason)
                }
            }
        }
    }
}
