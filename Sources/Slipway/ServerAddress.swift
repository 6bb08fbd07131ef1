import AsyncHTTPClient
import Foundation
import NIOSSL
import Synchronization

/// Where a client may send tokens: over `https://` anywhere, over plain `http://` only to this machine.
public enum ServerAddress {
    /// Why `url` must not be used without `--insecure`, or nil when it may: plain `http://` to a host that is
    /// not loopback would carry tokens and desired state across the network in the clear.
    public static func plainHTTPRefusal(_ url: String, insecure: Bool) -> String? {
        guard !insecure, let parsed = URL(string: url), parsed.scheme?.lowercased() == "http" else { return nil }
        let host = (parsed.host ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if host == "localhost" || host == "::1" || host.hasPrefix("127.") { return nil }
        return "refusing plain http:// to \(host.isEmpty ? url : host): tokens would cross the network in the clear; "
            + "use an https:// URL, or pass --insecure to send them anyway"
    }
}

/// How a client trusts an `https://` server and proves itself to it.
public struct ClientTLS: Sendable, Hashable {
    /// PEM file of the CA(s) that signed the server's certificate; nil trusts the system's roots.
    public var caFile: String?
    /// PEM files of a client certificate and its key, for a server that asks agents for one (`--agent-ca`).
    public var clientCertificateFile: String?
    public var clientKeyFile: String?

    public init(caFile: String? = nil, clientCertificateFile: String? = nil, clientKeyFile: String? = nil) {
        self.caFile = caFile
        self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile
    }

    /// Whether anything differs from the shared client's defaults.
    public var isDefault: Bool { self == ClientTLS() }

    /// The client for this trust that lives as long as the process, as ``SlipwayClient/sharedHTTPClient`` does
    /// (made on first use; commands and agents use it and never shut it down).
    public func sharedHTTPClient() throws -> HTTPClient {
        if isDefault { return SlipwayClient.sharedHTTPClient }
        return try Self.shared.withLock { clients in
            if let client = clients[self] { return client }
            let client = try makeHTTPClient()
            clients[self] = client
            return client
        }
    }

    private static let shared = Mutex<[ClientTLS: HTTPClient]>([:])

    /// An HTTP client with this trust, configured as ``SlipwayClient/sharedHTTPClient`` otherwise. Every file is
    /// read now, and a failure names the file and what is wrong with it.
    public func makeHTTPClient() throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            let roots: [NIOSSLCertificate]
            do { roots = try NIOSSLCertificate.fromPEMFile(caFile) } catch {
                throw ClientTLSError("--ca-file \(caFile): cannot read PEM certificates from it (\(error))")
            }
            guard !roots.isEmpty else { throw ClientTLSError("--ca-file \(caFile): the file holds no certificate") }
            tls.trustRoots = .certificates(roots)
        }
        switch (clientCertificateFile, clientKeyFile) {
        case (nil, nil): break
        case (let certificateFile?, let keyFile?):
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            } catch {
                throw ClientTLSError("--client-cert \(certificateFile): cannot read a PEM certificate from it (\(error))")
            }
            do {
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw ClientTLSError("--client-key \(keyFile): cannot read a PEM private key from it (\(error))")
            }
        case (nil, _?): throw ClientTLSError("--client-key needs --client-cert")
        case (_?, nil): throw ClientTLSError("--client-cert needs --client-key")
        }
        var configuration = SlipwayClient.sharedConfiguration
        configuration.tlsConfiguration = tls
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

/// A TLS file a client was given cannot be used; the message names it.
public struct ClientTLSError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
