import Hummingbird
import NIOCore
import NIOSSL
import SlipwayCore

/// With `--agent-ca`, the agent routes also require a client certificate from that CA: a stolen agent token is
/// useless without the instance's certificate. TLS has already verified any certificate presented against the CA
/// (the handshake fails otherwise), so here it only has to be there.
struct AgentCertificateMiddleware: RouterMiddleware {
    typealias Context = SlipwayRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let connection = context.channel.parent ?? context.channel
        let certificate = try? await connection.nioSSL_peerCertificate().get()
        guard certificate != nil else {
            throw SlipwayError.authFailure(
                "this server requires agents to present a client certificate signed by its agent CA (slipway-agent --client-cert and --client-key)")
        }
        return try await next(request, context)
    }
}
