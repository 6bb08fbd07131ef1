import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// A tiny HTTP server on 127.0.0.1 answering what `respond` says: for what a real registry will
/// not do (fail with 500, store a blob under the wrong digest).
struct StubAnswer: Sendable {
    var status: Int
    var headers: [String: String] = [:]
    var body: [UInt8] = []

    static func json(_ text: String, status: Int = 200, headers: [String: String] = [:]) -> StubAnswer {
        var headers = headers
        headers["Content-Type"] = headers["Content-Type"] ?? "application/json"
        return StubAnswer(status: status, headers: headers, body: Array(text.utf8))
    }
}

/// Runs `body` with a stub server; its host:port is passed in. The server stops afterwards.
func withStubRegistry<T: Sendable>(
    respond: @escaping @Sendable (_ method: String, _ path: String) -> StubAnswer,
    _ body: @Sendable (String) async throws -> T
) async throws -> T {
    var quietLogger = Logger(label: "stub-registry")
    quietLogger.logLevel = .critical
    let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let server = Server(
        childChannelSetup: HTTP1Channel(responder: { request, responseWriter, _ in
            let method = request.method.rawValue
            let answer = respond(method, request.uri.path)
            var fields = HTTPFields()
            for (name, value) in answer.headers {
                if let field = HTTPField.Name(name) { fields[field] = value }
            }
            let head = HTTPResponse(status: .init(code: answer.status), headerFields: fields)
            if method == "HEAD" || answer.body.isEmpty {
                var head = head
                if method != "HEAD" { head.headerFields[.contentLength] = "0" }
                try await responseWriter.writeResponse(head)
            } else {
                try await responseWriter.write(response: head, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
            }
        }),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        },
        eventLoopGroup: HTTPClient.shared.eventLoopGroup,
        logger: quietLogger
    )
    let group = ServiceGroup(
        configuration: .init(services: [server], gracefulShutdownSignals: [], logger: quietLogger)
    )
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        defer { tasks.cancelAll() }
        var port = 0
        for await p in portStream {
            port = p
            break
        }
        do {
            let result = try await body("127.0.0.1:\(port)")
            await group.triggerGracefulShutdown()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
    }
}

/// Runs `body` with a host:port that takes connections (the kernel completes them into the backlog) but
/// never answers: a registry that hangs, without a server task left to cancel mid-answer.
func withSilentListener<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0, "cannot open a socket")
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    precondition(bound == 0 && listen(fd, 16) == 0, "cannot listen on 127.0.0.1")
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return try await body("127.0.0.1:\(UInt16(bigEndian: address.sin_port))")
}
