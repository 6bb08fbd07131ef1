import Crypto
import Foundation

/// What a webhook can be told about.
public enum WebhookEventKind: String, Sendable, Codable, CaseIterable {
    case release = "release"
    case rolloutStarted = "rollout.started"
    case rolloutPaused = "rollout.paused"
    case rolloutResumed = "rollout.resumed"
    case rolloutHalted = "rollout.halted"
    case rolloutCompleted = "rollout.completed"
    case rolloutCancelled = "rollout.cancelled"
    case instanceFailed = "instance.failed"

    /// The event a rollout's move from `old` to `new` status is, if any.
    public static func rolloutMoved(from old: RolloutStatus, to new: RolloutStatus) -> WebhookEventKind? {
        guard old != new else { return nil }
        switch new {
        case .running: return old == .paused ? .rolloutResumed : .rolloutStarted
        case .paused: return .rolloutPaused
        case .failed: return .rolloutHalted
        case .complete: return old == .planning ? nil : .rolloutCompleted
        case .cancelled: return .rolloutCancelled
        case .planning, .scheduled, .pending, .pendingDependency: return nil
        }
    }
}

/// A subscription `wh-…`: events of its organization POSTed to `url`, signed with `secret`.
public struct Webhook: Sendable, Equatable {
    public var id: String
    public var organizationId: String
    public var url: String
    public var events: [WebhookEventKind]
    public var createdBy: String
    public var createdAt: Date

    public init(id: String, organizationId: String, url: String, events: [WebhookEventKind], createdBy: String, createdAt: Date) {
        self.id = id
        self.organizationId = organizationId
        self.url = url
        self.events = events
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    /// Checks what a request asks for: an http(s) URL (not to a private or link-local address unless allowed),
    /// known event names (at least one), and a secret of 16 to 256 bytes.
    public static func validate(url: String, events: [String], secret: String, allowPrivate: Bool) throws -> [WebhookEventKind] {
        try WebhookAddress.check(url: url, allowPrivate: allowPrivate)
        guard !events.isEmpty else { throw SlipwayError.badRequest("events must name at least one event") }
        var kinds: [WebhookEventKind] = []
        for name in events {
            guard let kind = WebhookEventKind(rawValue: name) else {
                throw SlipwayError.badRequest(
                    "events must be among \(WebhookEventKind.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name.prefix(utf8Bytes: 60))'")
            }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        guard (16...256).contains(secret.utf8.count) else {
            throw SlipwayError.badRequest("secret must be 16 to 256 bytes, got \(secret.utf8.count)")
        }
        return kinds
    }

    /// `sha256=<hex HMAC-SHA256 of body under secret>`, the `X-Slipway-Signature` header.
    public static func signature(body: Data, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + Data(code).hexString
    }
}

/// Where a webhook may send: http or https, and (unless `slipwayd --webhook-allow-private`) no loopback, private,
/// link-local, unique-local or unspecified address, checked on the URL and again on each address its host resolves to.
public enum WebhookAddress {
    public static func check(url: String, allowPrivate: Bool, field: String = "webhooks") throws {
        guard url.utf8.count <= 2048 else { throw SlipwayError.badRequest("url must be at most 2048 bytes, got \(url.utf8.count)") }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else {
            throw SlipwayError.badRequest("url must be an http or https URL such as https://hooks.example.com/slipway, got '\(url.prefix(utf8Bytes: 100))'")
        }
        guard components.user == nil, components.password == nil else {
            throw SlipwayError.badRequest("url must not carry a user or password; sign deliveries with the secret instead")
        }
        if !allowPrivate, let reason = refusal(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))) {
            throw SlipwayError.badRequest(
                "url \(url.prefix(utf8Bytes: 100)) points at \(reason); \(field) may not reach it unless slipwayd runs with --webhook-allow-private")
        }
    }

    /// Why an address (or a host name that is one) may not be reached; nil when it may.
    public static func refusal(host: String) -> String? {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered.hasSuffix(".localhost") { return "this machine (localhost)" }
        if let v4 = ipv4(lowered) { return refusal(v4: v4) }
        if let v6 = ipv6(lowered) { return refusal(v6: v6) }
        return nil
    }

    static func refusal(v4 bytes: [UInt8]) -> String? {
        switch (bytes[0], bytes[1]) {
        case (0, _): "an unspecified address"
        case (127, _): "a loopback address"
        case (10, _), (192, 168): "a private address"
        case (172, 16...31): "a private address"
        case (169, 254): "a link-local address"
        case (100, 64...127): "a shared (carrier-grade NAT) address"
        default: bytes[0] >= 224 ? "a multicast or reserved address" : nil
        }
    }

    static func refusal(v6 words: [UInt16]) -> String? {
        if words.allSatisfy({ $0 == 0 }) { return "an unspecified address" }
        if words[0..<7].allSatisfy({ $0 == 0 }) && words[7] == 1 { return "a loopback address" }
        // IPv4-mapped ::ffff:a.b.c.d
        if words[0..<5].allSatisfy({ $0 == 0 }) && words[5] == 0xFFFF {
            return refusal(v4: [UInt8(words[6] >> 8), UInt8(words[6] & 0xFF), UInt8(words[7] >> 8), UInt8(words[7] & 0xFF)])
        }
        if words[0] & 0xFE00 == 0xFC00 { return "a unique-local (private) address" }
        if words[0] & 0xFFC0 == 0xFE80 { return "a link-local address" }
        if words[0] & 0xFF00 == 0xFF00 { return "a multicast address" }
        return nil
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { $0.count <= 3 && $0.allSatisfy(\.isASCII) ? UInt8($0) : nil }
        return bytes.count == 4 ? bytes : nil
    }

    static func ipv6(_ text: String) -> [UInt16]? {
        guard text.contains(":") else { return nil }
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { raw in
            (0..<8).map { UInt16(raw[$0 * 2]) << 8 | UInt16(raw[$0 * 2 + 1]) }
        }
    }

    /// The refusal for any of the addresses `host` resolves to (at delivery time, when `host` is a name).
    public static func resolvedRefusal(host: String) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let address = text.split(separator: "%").first.map(String.init) ?? ""
                if let reason = refusal(host: address) { return "\(reason) (\(address))" }
            }
            cursor = entry.pointee.ai_next
        }
        return nil
    }
}

/// One event to deliver to one webhook, kept until it is delivered or given up.
public struct WebhookDelivery: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable {
        case pending = "PENDING"
        case delivered = "DELIVERED"
        case failed = "FAILED"
    }

    public var id: String
    public var webhookId: String
    public var event: WebhookEventKind
    /// The JSON body, exactly as sent (and signed).
    public var payload: String
    public var status: Status
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastStatusCode: Int?
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?

    public init(
        id: String, webhookId: String, event: WebhookEventKind, payload: String, status: Status, attempts: Int, nextAttemptAt: Date?,
        lastStatusCode: Int?, lastError: String?, createdAt: Date, deliveredAt: Date?
    ) {
        self.id = id
        self.webhookId = webhookId
        self.event = event
        self.payload = payload
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastStatusCode = lastStatusCode
        self.lastError = lastError
        self.createdAt = createdAt
        self.deliveredAt = deliveredAt
    }

    /// Attempts before a delivery is given up: with the backoff, about a day and a half.
    public static let maxAttempts = 12

    /// Seconds before attempt `attempts + 1`, after `attempts` failed: 5 s doubling, at most an hour.
    public static func backoff(afterAttempts attempts: Int) -> TimeInterval {
        min(3600, 5 * pow(2, Double(max(0, attempts - 1))))
    }

    /// An attempt's outcome: delivered on a 2xx answer; otherwise retried later, or failed for good after the last attempt.
    public mutating func attempted(statusCode: Int?, error: String?, now: Date) {
        attempts += 1
        lastStatusCode = statusCode
        if let statusCode, (200..<300).contains(statusCode) {
            status = .delivered
            deliveredAt = now
            nextAttemptAt = nil
            lastError = nil
            return
        }
        lastError = error ?? statusCode.map { "the receiver answered \($0)" } ?? "no answer"
        if attempts >= Self.maxAttempts {
            status = .failed
            nextAttemptAt = nil
        } else {
            nextAttemptAt = now.addingTimeInterval(Self.backoff(afterAttempts: attempts))
        }
    }
}

/// An event as it is sent: the body of every delivery.
public struct WebhookPayload: Sendable, Codable, Equatable {
    public struct RolloutFacts: Sendable, Codable, Equatable {
        public var id: String
        public var serviceId: String
        public var imageConfigId: String
        public var serviceEnvironmentId: String
        public var status: String
        public var message: String
        public var total: Int
        public var completed: Int
        public var failed: Int
        public var skipped: Int
        public var targetVersions: [String]
    }

    public struct InstanceFacts: Sendable, Codable, Equatable {
        public var id: String
        public var name: String
        public var sourceVersion: String
        public var targetVersion: String
        public var reason: String?

        public init(id: String, name: String, sourceVersion: String, targetVersion: String, reason: String?) {
            self.id = id
            self.name = name
            self.sourceVersion = sourceVersion
            self.targetVersion = targetVersion
            self.reason = reason
        }
    }

    public struct ReleaseFacts: Sendable, Codable, Equatable {
        public var serviceId: String
        public var imageConfigId: String
        public var productTierId: String
        public var version: String
        public var image: String
        public var releasedBy: String
        public var releaseNotes: String?

        public init(
            serviceId: String, imageConfigId: String, productTierId: String, version: String, image: String, releasedBy: String,
            releaseNotes: String? = nil
        ) {
            self.serviceId = serviceId
            self.imageConfigId = imageConfigId
            self.productTierId = productTierId
            self.version = version
            self.image = image
            self.releasedBy = releasedBy
            self.releaseNotes = releaseNotes
        }
    }

    /// The delivery's id (`whd-…`): the same on every retry, for receivers to drop duplicates.
    public var id: String
    public var event: String
    public var occurredAt: String
    public var organizationId: String
    public var rollout: RolloutFacts?
    public var instance: InstanceFacts?
    public var release: ReleaseFacts?

    public init(id: String, event: WebhookEventKind, occurredAt: Date, organizationId: String) {
        self.id = id
        self.event = event.rawValue
        self.occurredAt = occurredAt.rfc3339
        self.organizationId = organizationId
    }

    public static func rolloutFacts(_ rollout: Rollout) -> RolloutFacts {
        RolloutFacts(
            id: rollout.id, serviceId: rollout.serviceId, imageConfigId: rollout.imageConfigId, serviceEnvironmentId: rollout.serviceEnvironmentId,
            status: rollout.status.rawValue, message: rollout.message, total: rollout.counts.total, completed: rollout.counts.completed,
            failed: rollout.counts.failed, skipped: rollout.counts.skipped, targetVersions: rollout.targetVersions)
    }

    /// The body: compact JSON with sorted keys, so that it is signed and sent byte for byte as stored.
    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
