import Hummingbird
import NIOCore
import SlipwayCore

/// The request context of every route: Hummingbird's core storage plus the signed-in caller.
public struct SlipwayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``BearerAuthMiddleware`` on authenticated routes.
    public var identity: Identity?
    /// The client's IP address, for the audit log and the sign-in limits.
    public var clientAddress: String?
    /// The connection (for HTTP/2, the stream), to ask TLS who the peer is.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        channel = source.channel
        // HTTP/2 streams have no address of their own: the connection has it.
        clientAddress = (source.channel.remoteAddress ?? source.channel.parent?.remoteAddress)?.ipAddress
    }

    /// Bodies are read by ``JSONBody`` with its own limit and messages.
    public var maxUploadSize: Int { JSONBody.maxSize }

    /// The signed-in caller; only nil on routes without ``BearerAuthMiddleware``, which never ask.
    public func requireIdentity() throws -> Identity {
        guard let identity else { throw SlipwayError.authFailure("missing Authorization header: send 'Authorization: Bearer <jwtToken>'") }
        return identity
    }
}
