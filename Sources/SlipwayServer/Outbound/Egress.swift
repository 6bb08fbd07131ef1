import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import SlipwayCore

/// Outgoing HTTP to the operators' own endpoints (webhook receivers, analysis checks): no redirects (one could
/// lead anywhere), a timeout on every request, and, unless `--webhook-allow-private`, no loopback, private or
/// link-local address, checked on the URL's host and on what it resolves to.
///
/// The client is made on first use and shut down when the server stops (this is a service for that alone): a
/// server that fails to start never made one, and an HTTP client dropped without a shutdown traps.
final class Egress: ServiceLifecycle.Service, Sendable {
    let allowPrivate: Bool
    private let state = NIOLockedValueBox(State.idle)
    static let timeout: TimeAmount = .seconds(10)

    private enum State {
        case idle
        case open(HTTPClient)
        case closed
    }

    init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
    }

    func run() async throws {
        try? await gracefulShutdown()
        let client = state.withLockedValue { state -> HTTPClient? in
            defer { state = .closed }
            if case .open(let client) = state { return client }
            return nil
        }
        try await client?.shutdown()
    }

    private func client() throws -> HTTPClient {
        try state.withLockedValue { state in
            switch state {
            case .open(let client):
                return client
            case .idle:
                var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5), read: Self.timeout))
                configuration.redirectConfiguration = .disallow
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                state = .open(client)
                return client
            case .closed:
                throw EgressRefused(message: "not sent: slipwayd is shutting down")
            }
        }
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
        let response = try await client().execute(request, timeout: Self.timeout)
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
