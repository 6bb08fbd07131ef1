import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
import SlipwayCore

/// What every connection is held to, whatever its protocol: a cap per client address, and a deadline for
/// reading each HTTP/1 request from its first byte to its end (headers and body), so that a client trickling
/// bytes cannot hold a connection. Idle connections are closed by the idle timeout of the HTTP channel.
struct ConnectionLimits: Sendable {
    /// Connections one address may hold at once; more are closed as soon as they are accepted.
    var perAddress: Int
    /// From the first byte of a request (or of the TLS handshake) to the end of its body.
    var requestReadTimeout: TimeAmount
}

/// How many connections each client address holds now.
final class ConnectionCounts: Sendable {
    private let counts = NIOLockedValueBox<[String: Int]>([:])

    /// Counts a new connection from `address`; false (and not counted) when it already holds `limit`.
    func open(_ address: String, limit: Int) -> Bool {
        counts.withLockedValue { counts in
            let held = counts[address, default: 0]
            guard held < limit else { return false }
            counts[address] = held + 1
            return true
        }
    }

    func close(_ address: String) {
        counts.withLockedValue { counts in
            let held = counts[address, default: 1] - 1
            counts[address] = held > 0 ? held : nil
        }
    }

    func held(by address: String) -> Int { counts.withLockedValue { $0[address, default: 0] } }
}

/// A child channel that applies ``ConnectionLimits`` around another (HTTP/1, TLS, or HTTP/2 with upgrade).
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let limits: ConnectionLimits
    let counts: ConnectionCounts
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // IPv6 clients count by their /64, as the sign-in limits do.
        let address = channel.remoteAddress?.ipAddress.map(SignInThrottle.clientKey) ?? "unknown"
        guard counts.open(address, limit: limits.perAddress) else {
            self.logger.warning(
                "refused a connection: the address already holds the most connections allowed",
                metadata: ["address": "\(address)", "limit": "\(limits.perAddress)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionRefused())
        }
        let counts = self.counts
        channel.closeFuture.whenComplete { _ in counts.close(address) }
        let deadline = RequestReadDeadline(timeout: limits.requestReadTimeout)
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(deadline, position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    struct ConnectionRefused: Error {}
}

/// Closes a connection whose request is not read whole within `timeout` of its first byte. It sits first in the
/// pipeline (it sees raw bytes, so a TLS handshake counts too); ``RequestEndMarker`` after the HTTP/1 decoder
/// tells it when a request has been read. HTTP/2 connections are multiplexed: there it stands down once a stream
/// starts, and the HTTP/2 idle timeout applies.
final class RequestReadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case waitingForRequest
        case reading(Scheduled<Void>)
        case stoodDown
    }

    private let timeout: TimeAmount
    private var state = State.waitingForRequest
    private weak var context: ChannelHandlerContext?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .waitingForRequest = state {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            state = .reading(
                context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                    loopBound.value.close(promise: nil)
                })
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    /// The request being read has been read whole: the deadline restarts with the next request's first byte.
    func requestEnded() {
        if case .stoodDown = state { return }
        disarm()
        state = .waitingForRequest
    }

    /// The connection speaks HTTP/2: per-request deadlines do not apply to the connection.
    func standDown() {
        disarm()
        state = .stoodDown
    }

    private func disarm() {
        if case .reading(let task) = state {
            task.cancel()
            state = .waitingForRequest
        }
    }
}

/// After the HTTP/1 decoder: tells the connection's ``RequestReadDeadline`` where each request starts and ends.
final class RequestEndMarker: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private var deadline: RequestReadDeadline?
    private var isStream = false

    func handlerAdded(context: ChannelHandlerContext) {
        if let own = try? context.pipeline.syncOperations.handler(type: RequestReadDeadline.self) {
            deadline = own
        } else if let parent = context.channel.parent, parent.eventLoop.inEventLoop {
            // An HTTP/2 stream (on its connection's event loop): the deadline lives on the connection.
            isStream = true
            if let connection = try? parent.pipeline.syncOperations.handler(type: RequestReadDeadline.self) { connection.standDown() }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !isStream, case .end = unwrapInboundIn(data) { deadline?.requestEnded() }
        context.fireChannelRead(data)
    }
}
