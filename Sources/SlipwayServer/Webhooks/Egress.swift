import AsyncHTTPClient
import Foundation
import NIOCore
import ServiceLifecycle
import SlipwayCore

/// Outgoing HTTP to the operators' own endpoints (webhook receivers, analysis checks): no redirects (one could
/// lead anywhere), a timeout on every request, and, unless `--webhook-allow-private`, no loopback, private or
/// link-local address, checked on the URL's host and on what it resolves to. A service only so that its
/// client shuts down after the services that use it.
final class Egress: ServiceLifecycle.Service, Sendable {
    let allowPrivate: Bool
    private let http: HTTPClient
    static let timeout: TimeAmount = .seconds(10)

    init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: Self.timeout))
        configuration.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func run() async throws {
        try? await gracefulShutdown()
        try await http.shutdown()
    }

    /// Why `url` may not be reached from here; nil when it may.
    func refusal(_ url: String) -> String? {
        guard !allowPrivate, let host = URLComponents(string: url)?.host else { return nil }
        guard let reason = WebhookAddress.refusal(host: host) ?? WebhookAddress.resolvedRefusal(host: host) else { return nil }
        return "not sent: \(host) is \(reason); slipwayd must run with --webhook-allow-private to reach it"
    }

    /// Sends `request` (after the address check); answers the status and up to `limit` bytes of the body.
    func send(_ request: HTTPClientRequest, limit: Int = 1 << 20) async throws -> (status: Int, body: Data) {
        if let refusal = refusal(request.url) { throw EgressRefused(message: refusal) }
        let response = try await http.execute(request, timeout: Self.timeout)
        var body = Data()
        for try await chunk in response.body {
            if body.count < limit { body.append(contentsOf: chunk.readableBytesView.prefix(limit - body.count)) }
        }
        return (Int(response.status.code), body)
    }
}

struct EgressRefused: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
