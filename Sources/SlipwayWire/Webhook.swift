// Wire types of webhooks (Slipway extensions).

/// Body of `POST /2022-09-01-00/webhook`.
public struct CreateWebhookRequest: Codable, Sendable, Equatable {
    /// Where events are POSTed: an http or https URL.
    public var url: String
    /// `release`, `rollout.started`, `rollout.paused`, `rollout.resumed`, `rollout.halted`, `rollout.completed`,
    /// `rollout.cancelled`, `instance.failed`.
    public var events: [String]
    /// 16 to 256 bytes; each delivery carries `X-Slipway-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    public var secret: String

    /// Creates the request body.
    public init(url: String, events: [String], secret: String) {
        self.url = url
        self.events = events
        self.secret = secret
    }
}

/// A webhook `wh-…`; its secret is never answered.
public struct WebhookResult: Codable, Sendable, Equatable {
    public var id: String
    public var url: String
    public var events: [String]
    /// Email of the user who created it.
    public var createdBy: String
    /// RFC 3339 in UTC.
    public var createdAt: String

    /// Creates a webhook entry.
    public init(id: String, url: String, events: [String], createdBy: String, createdAt: String) {
        self.id = id
        self.url = url
        self.events = events
        self.createdBy = createdBy
        self.createdAt = createdAt
    }
}

/// Response of `GET /2022-09-01-00/webhook`.
public struct ListWebhooksResult: Codable, Sendable, Equatable {
    public var webhooks: [WebhookResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(webhooks: [WebhookResult], nextPageToken: String? = nil) {
        self.webhooks = webhooks
        self.nextPageToken = nextPageToken
    }
}

/// One event's delivery to a webhook, with its attempts so far.
public struct WebhookDeliveryResult: Codable, Sendable, Equatable {
    /// `whd-…`: also the `id` in the body and the `X-Slipway-Delivery` header, the same on every retry.
    public var id: String
    public var event: String
    /// `PENDING` (queued, or retrying), `DELIVERED` (a 2xx answer) or `FAILED` (given up).
    public var status: String
    public var attempts: Int
    /// When the next attempt is due, RFC 3339 in UTC; nil once delivered or given up.
    public var nextAttemptAt: String?
    /// The receiver's last HTTP status.
    public var lastStatusCode: Int?
    /// Why the last attempt failed.
    public var lastError: String?
    /// The body sent, exactly as signed.
    public var payload: String
    public var createdAt: String
    public var deliveredAt: String?

    /// Creates a delivery entry.
    public init(
        id: String, event: String, status: String, attempts: Int, nextAttemptAt: String?, lastStatusCode: Int?, lastError: String?, payload: String,
        createdAt: String, deliveredAt: String?
    ) {
        self.id = id
        self.event = event
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastStatusCode = lastStatusCode
        self.lastError = lastError
        self.payload = payload
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
    }
}

/// Response of `GET /2022-09-01-00/webhook/{id}/deliveries`: newest first.
public struct ListWebhookDeliveriesResult: Codable, Sendable, Equatable {
    public var deliveries: [WebhookDeliveryResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(deliveries: [WebhookDeliveryResult], nextPageToken: String? = nil) {
        self.deliveries = deliveries
        self.nextPageToken = nextPageToken
    }
}
