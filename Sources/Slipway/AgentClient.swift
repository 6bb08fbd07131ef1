import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The agent protocol as an instance's agent speaks it: long-poll for the desired state, report outcomes.
/// Authenticated by the instance's agent token (from instance registration), never a user's.
public struct AgentClient: Sendable {
    /// The server's base URL, without a trailing slash, e.g. `http://127.0.0.1:8080`.
    public let serverURL: String
    let token: String
    let http: HTTPClient

    /// Creates a client that authenticates with an instance's agent token (`sat-…`).
    public init(serverURL: String, agentToken: String, httpClient: HTTPClient = SlipwayClient.sharedHTTPClient) {
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        token = agentToken
        http = httpClient
    }

    /// The answer of a long-poll.
    public enum Poll: Sendable {
        /// The desired state still matches the ETag sent.
        case unchanged
        /// A desired state the agent has not seen, with its ETag.
        case changed(DesiredStateResult, etag: String?)
    }

    /// Waits up to `wait` seconds (0 to 60) for a desired state other than the one `etag` names.
    public func desiredState(etag: String?, wait: Int) async throws -> Poll {
        var request = HTTPClientRequest(url: "\(serverURL)/agent/v1/desired-state?wait=\(wait)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        if let etag { request.headers.add(name: "If-None-Match", value: etag) }
        let (status, headers, body) = try await execute(request, timeout: .seconds(Int64(wait) + 30))
        switch status {
        case 304:
            return .unchanged
        case 200:
            do {
                return .changed(try JSONDecoder().decode(DesiredStateResult.self, from: Data(buffer: body)), etag: headers.first(name: "ETag"))
            } catch {
                throw SlipwayClientError(kind: .invalidResponse, status: status, message: "cannot decode the desired state: \(error)")
            }
        default:
            throw SlipwayClient.error(from: .init(status: status, headers: headers, body: body))
        }
    }

    /// Reports what the agent did with a desired state.
    public func report(_ report: AgentReportRequest) async throws {
        var request = HTTPClientRequest(url: "\(serverURL)/agent/v1/report")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(report)))
        let (status, headers, body) = try await execute(request, timeout: .seconds(30))
        guard status == 200 else { throw SlipwayClient.error(from: .init(status: status, headers: headers, body: body)) }
    }

    private func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> (Int, HTTPHeaders, ByteBuffer) {
        do {
            let response = try await http.execute(request, timeout: timeout)
            return (Int(response.status.code), response.headers, try await response.body.collect(upTo: 16 << 20))
        } catch {
            throw SlipwayClientError(kind: .transport, message: "\(error)", temporary: true)
        }
    }
}
