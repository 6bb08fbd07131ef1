import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SlipwayWire

/// The agent's side of the agent protocol.
struct AgentClient {
    let server: String
    let token: String
    let http: HTTPClient

    enum Poll {
        case unchanged
        case changed(DesiredStateResult, etag: String?)
    }

    /// Long-polls for the desired state; `.unchanged` when it still matches `etag` after `wait` seconds.
    func desiredState(etag: String?, wait: Int) async throws -> Poll {
        var request = HTTPClientRequest(url: "\(server)/agent/v1/desired-state?wait=\(wait)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "application/json")
        if let etag { request.headers.add(name: "If-None-Match", value: etag) }
        let response = try await http.execute(request, timeout: .seconds(Int64(wait) + 30))
        let body = try await response.body.collect(upTo: 16 << 20)
        switch response.status.code {
        case 304:
            return .unchanged
        case 200:
            let state = try JSONDecoder().decode(DesiredStateResult.self, from: Data(buffer: body))
            return .changed(state, etag: response.headers.first(name: "ETag"))
        default:
            throw Self.failure(response.status, body)
        }
    }

    func report(_ report: AgentReportRequest) async throws {
        var request = HTTPClientRequest(url: "\(server)/agent/v1/report")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(report)))
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw Self.failure(response.status, body) }
    }

    /// A server answer the agent cannot use; 401 means the token is wrong for good.
    struct ServerError: Error, CustomStringConvertible {
        var status: HTTPResponseStatus
        var message: String
        var description: String { "server answered \(status.code): \(message)" }
    }

    private static func failure(_ status: HTTPResponseStatus, _ body: ByteBuffer) -> ServerError {
        let message = (try? JSONDecoder().decode(GoaError.self, from: Data(buffer: body)))?.message ?? String(buffer: body)
        return ServerError(status: status, message: message)
    }
}
