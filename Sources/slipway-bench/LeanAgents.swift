import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import Slipway

/// A fleet of simulated agents, each one keep-alive HTTP/1.1 connection driven by NIO callbacks on an event
/// loop: no task, no connection pool, no async hop per request. They speak the agent protocol as
/// `slipway-agent` does (long-poll with `If-None-Match`, apply, report the generation, poll again), so the
/// server does the same work as for real agents while the bench process costs less than the server per
/// instance: the fleet shares the server's cores, and its CPU would otherwise bound what is measured.
final class LeanFleet: Sendable {
    private let agents: [LeanAgent]
    private let applied: AppliedCounter

    /// Agents for `tokens`, spread over `servers` in turn.
    init(tokens: [String], servers: [String], applyTime: Duration, applied: AppliedCounter) throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let endpoints = try servers.map(Endpoint.init)
        self.applied = applied
        agents = tokens.enumerated().map { index, token in
            LeanAgent(
                endpoint: endpoints[index % endpoints.count], token: token, applyTime: .nanoseconds(Int64(applyTime / .nanoseconds(1))),
                eventLoop: group.next(), applied: applied)
        }
    }

    /// Connects every agent, a batch at a time (a burst of 10,000 connects would overflow the server's listen
    /// backlog, and each dropped SYN costs a second), and waits until each has applied its first state.
    func start() async throws {
        for batch in stride(from: 0, to: agents.count, by: 256) {
            let futures = agents[batch..<min(batch + 256, agents.count)].map { agent in
                agent.eventLoop.flatSubmit { agent.connect() }
            }
            for future in futures { try await future.get() }
        }
        let deadline = Date().addingTimeInterval(600)
        while applied.value < agents.count {
            guard Date() < deadline else { throw FleetDidNotComeUp(applied: applied.value, of: agents.count) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Closes every agent's connection; none reconnects.
    func stop() async {
        for agent in agents { try? await agent.eventLoop.submit { agent.stop() }.get() }
    }

    struct FleetDidNotComeUp: Error, CustomStringConvertible {
        var applied: Int
        var of: Int
        var description: String { "only \(applied) of \(of) agents came up" }
    }
}

/// Where an agent connects, and the Host header it sends.
struct Endpoint: Sendable {
    var host: String
    var port: Int

    init(_ url: String) throws {
        guard let parsed = URL(string: url), parsed.scheme == "http", let host = parsed.host else {
            throw ParseError(url: url)
        }
        self.host = host
        port = parsed.port ?? 80
    }

    struct ParseError: Error, CustomStringConvertible {
        var url: String
        var description: String { "the lean fleet speaks plain http://host:port only, got '\(url)'" }
    }
}

/// One simulated agent. Everything it holds is touched on its event loop only, which is why it may be
/// `@unchecked Sendable`: the closures that reach it from elsewhere hop to that loop first.
private final class LeanAgent: @unchecked Sendable {
    let endpoint: Endpoint
    let eventLoop: any EventLoop
    private let authorization: String
    let applyTime: TimeAmount
    private let applied: AppliedCounter
    private var channel: (any Channel)?
    private var stopped = false
    /// The ETag of the last desired state applied and reported, sent as `If-None-Match`.
    var etag: String?
    var appliedGeneration = 0

    init(endpoint: Endpoint, token: String, applyTime: TimeAmount, eventLoop: any EventLoop, applied: AppliedCounter) {
        self.endpoint = endpoint
        authorization = "Bearer \(token)"
        self.applyTime = applyTime
        self.eventLoop = eventLoop
        self.applied = applied
    }

    func connect() -> EventLoopFuture<Void> {
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(LeanAgentHandler(agent: self))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .map { channel in self.channel = channel }
    }

    func stop() {
        stopped = true
        channel?.close(promise: nil)
    }

    /// After a refused request or a lost connection: a fresh connection 200 ms later, as `slipway-agent` waits.
    func reconnect() {
        channel = nil
        guard !stopped else { return }
        eventLoop.scheduleTask(in: .milliseconds(200)) {
            guard !self.stopped else { return }
            self.connect().whenFailure { _ in self.reconnect() }
        }
    }

    func didApply() { applied.add() }

    // The requests, written whole and flushed once.
    func poll(on context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: endpoint.host)
        headers.add(name: "Authorization", value: authorization)
        headers.add(name: "Accept", value: "application/json")
        if let etag { headers.add(name: "If-None-Match", value: etag) }
        let head = HTTPRequestHead(
            version: .http1_1, method: .GET, uri: "/agent/v1/desired-state?wait=\(SimulatedAgent.longPollSeconds)", headers: headers)
        context.write(NIOAny(HTTPClientRequestPart.head(head)), promise: nil)
        context.writeAndFlush(NIOAny(HTTPClientRequestPart.end(nil)), promise: nil)
    }

    func report(generation: Int, tierVersion: String, on context: ChannelHandlerContext) {
        let body = try! JSONEncoder().encode(AgentReportRequest(tierVersion: tierVersion, status: "SUCCEEDED", health: "healthy", generation: generation))
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: endpoint.host)
        headers.add(name: "Authorization", value: authorization)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        context.write(NIOAny(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/agent/v1/report", headers: headers))), promise: nil)
        context.write(NIOAny(HTTPClientRequestPart.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPClientRequestPart.end(nil)), promise: nil)
    }
}

/// The agent's loop as a state machine over one connection's responses: poll, apply (a timer), report, poll.
private final class LeanAgentHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// Only what the agent reads from a desired state.
    private struct DesiredState: Decodable {
        var generation: Int
        var tierVersion: String
    }

    private enum Awaiting {
        case poll
        case report(generation: Int, etag: String?)
    }

    private let agent: LeanAgent
    private var awaiting = Awaiting.poll
    private var status: UInt = 0
    private var responseETag: String?
    private var body: ByteBuffer?

    init(agent: LeanAgent) { self.agent = agent }

    func channelActive(context: ChannelHandlerContext) {
        agent.poll(on: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status.code
            responseETag = head.headers.first(name: "ETag")
            body = nil
        case .body(var part):
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            responseEnded(context: context)
        }
    }

    private func responseEnded(context: ChannelHandlerContext) {
        switch awaiting {
        case .poll where status == 304:
            agent.poll(on: context)
        case .poll where status == 200:
            guard let body, let state = try? JSONDecoder().decode(DesiredState.self, from: body) else { return retryLater(context) }
            guard state.generation != agent.appliedGeneration else {
                agent.etag = responseETag
                return agent.poll(on: context)
            }
            awaiting = .report(generation: state.generation, etag: responseETag)
            // Applying takes the fixed time; the connection stays open and quiet meanwhile.
            context.eventLoop.assumeIsolated().scheduleTask(in: agent.applyTime) {
                guard context.channel.isActive else { return }
                self.agent.report(generation: state.generation, tierVersion: state.tierVersion, on: context)
            }
        case .report(let generation, let etag) where status == 200:
            agent.appliedGeneration = generation
            agent.etag = etag
            awaiting = .poll
            agent.didApply()
            agent.poll(on: context)
        default:
            retryLater(context)
        }
    }

    /// A refused or unreadable answer: start over on a new connection, keeping what was applied.
    private func retryLater(_ context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        agent.reconnect()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

