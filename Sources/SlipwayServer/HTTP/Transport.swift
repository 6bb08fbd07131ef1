import Foundation
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOSSL

/// How `slipwayd` speaks on its port: plain HTTP/1.1, or TLS with HTTP/2 for clients that offer it (ALPN) and
/// HTTP/1.1 for the rest; both under ``ConnectionLimits`` and an idle timeout.
enum Transport {
    static func serverBuilder(_ configuration: ServerConfiguration, counts: ConnectionCounts, logger: Logger) throws -> HTTPServerBuilder {
        let limits = ConnectionLimits(
            perAddress: configuration.maxConnectionsPerAddress, requestReadTimeout: .init(configuration.requestReadTimeout))
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestEndMarker()], idleTimeout: .init(configuration.idleTimeout))
        guard let tls = configuration.tls else {
            return HTTPServerBuilder { responder in
                GuardedChannel(base: HTTP1Channel(responder: responder, configuration: http1), limits: limits, counts: counts, logger: logger)
            }
        }
        let tlsConfiguration = try tls.serverConfiguration()
        return HTTPServerBuilder { responder in
            GuardedChannel(
                base: try HTTP2UpgradeChannel(
                    tlsConfiguration: tlsConfiguration,
                    configuration: .init(idleTimeout: configuration.idleTimeout, streamConfiguration: http1),
                    responder: responder),
                limits: limits, counts: counts, logger: logger)
        }
    }
}

/// The server's certificate and key, and the CA whose certificates agents may present.
public struct TLSFiles: Sendable, Equatable {
    /// PEM: the server certificate, then any intermediates.
    public var certificateChain: String
    /// PEM: the private key of the certificate.
    public var privateKey: String
    /// PEM: when set, agents must present a client certificate signed by this CA (other clients need none).
    public var agentCA: String?

    public init(certificateChain: String, privateKey: String, agentCA: String? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.agentCA = agentCA
    }

    /// Reads and checks the files; every failure names the file and what is wrong with it.
    func serverConfiguration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateChain)
        } catch {
            throw ConfigurationError("--tls-cert \(certificateChain): cannot read a PEM certificate chain from it (\(error))")
        }
        guard !chain.isEmpty else { throw ConfigurationError("--tls-cert \(certificateChain): the file holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKey, format: .pem)
        } catch {
            throw ConfigurationError("--tls-key \(privateKey): cannot read a PEM private key from it (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let agentCA {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(agentCA)
            } catch {
                throw ConfigurationError("--agent-ca \(agentCA): cannot read PEM certificates from it (\(error))")
            }
            guard !roots.isEmpty else { throw ConfigurationError("--agent-ca \(agentCA): the file holds no certificate") }
            configuration.trustRoots = .certificates(roots)
            // Asked of every client, required (in AgentCertificateMiddleware) only of agents; a certificate that is
            // presented must verify against the agent CA, or the handshake fails.
            configuration.certificateVerification = .optionalVerification
        }
        // A key that does not match the certificate fails here, at start, rather than at the first handshake.
        do {
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw ConfigurationError("--tls-cert and --tls-key do not make a usable TLS configuration (is the key the certificate's?): \(error)")
        }
        return configuration
    }
}
