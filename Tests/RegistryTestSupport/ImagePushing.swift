import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SlipwayRegistry

/// What went wrong while writing to a test registry.
public struct TestRegistryError: Error, CustomStringConvertible {
    public var description: String
}

public enum OCIMediaType {
    public static let manifest = "application/vnd.oci.image.manifest.v1+json"
    public static let index = "application/vnd.oci.image.index.v1+json"
    public static let config = "application/vnd.oci.image.config.v1+json"
    public static let layer = "application/vnd.oci.image.layer.v1.tar"
    public static let empty = "application/vnd.oci.empty.v1+json"
    public static let sigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
}

/// `sha256:<hex>` of some bytes.
public func sha256Digest(_ bytes: some DataProtocol) -> String {
    "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

/// JSON bytes with sorted keys (so a digest is stable), slashes unescaped.
public func canonicalJSON(_ object: Any) throws -> [UInt8] {
    Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
}

/// Pushes a small synthetic OCI image (a config blob and one layer derived from `content`) with
/// the plain upload API and tags it; returns the manifest digest.
@discardableResult
public func pushImage(access: RegistryAccess, repository: String, tag: String, content: String) async throws -> String {
    let session = PushSession(access: access, repository: repository)
    let layer = Array("slipway synthetic layer\n\(content)\n".utf8)
    let layerDigest = try await session.pushBlob(layer)
    let config = try canonicalJSON([
        "architecture": "amd64", "os": "linux", "config": ["Labels": ["slipway.test.content": content]],
        "rootfs": ["type": "layers", "diff_ids": [layerDigest]],
    ] as [String: Any])
    let configDigest = try await session.pushBlob(config)
    let manifest = try canonicalJSON([
        "schemaVersion": 2, "mediaType": OCIMediaType.manifest,
        "config": ["mediaType": OCIMediaType.config, "digest": configDigest, "size": config.count],
        "layers": [["mediaType": OCIMediaType.layer, "digest": layerDigest, "size": layer.count]],
    ] as [String: Any])
    return try await session.pushManifest(manifest, reference: tag, mediaType: OCIMediaType.manifest)
}

/// Pushes a blob; returns its digest.
@discardableResult
public func pushBlob(access: RegistryAccess, repository: String, bytes: [UInt8]) async throws -> String {
    try await PushSession(access: access, repository: repository).pushBlob(bytes)
}

/// Puts a manifest under a tag or its digest; returns its digest.
@discardableResult
public func pushManifest(access: RegistryAccess, repository: String, reference: String, mediaType: String, body: [UInt8]) async throws -> String {
    try await PushSession(access: access, repository: repository).pushManifest(body, reference: reference, mediaType: mediaType)
}

/// cosign's simple-signing payload for `digest`, byte for byte as cosign writes it.
public func cosignPayload(digest: String, dockerReference: String) -> [UInt8] {
    Array(
        #"{"critical":{"identity":{"docker-reference":"\#(dockerReference)"},"image":{"docker-manifest-digest":"\#(digest)"},"type":"cosign container image signature"},"optional":null}"#
            .utf8
    )
}

/// Writes cosign's tag-based signature of `digest` (tag `sha256-<hex>.sig`: an OCI manifest whose
/// one simple-signing layer carries the signature annotation), signed with `key` (P-256, SHA-256,
/// DER) as `cosign sign --key` does.
/// - payloadDigest: the digest the payload names (another one makes a signature of another image)
/// - tamperPayloadAfterSigning: change the payload's bytes after signing (the layer digest still
///   matches the stored bytes, so only the signature check can catch it)
/// Returns the digest of the signature manifest.
@discardableResult
public func signImage(
    access: RegistryAccess, repository: String, digest: String, key: P256.Signing.PrivateKey,
    payloadDigest: String? = nil, tamperPayloadAfterSigning: Bool = false, dockerReference: String
) async throws -> String {
    try await signImage(
        access: access, repository: repository, digest: digest, payloadDigest: payloadDigest,
        tamperPayloadAfterSigning: tamperPayloadAfterSigning, dockerReference: dockerReference
    ) { payload in
        Array(try key.signature(for: payload).derRepresentation)
    }
}

/// `signImage` with any signer: `sign` gets the payload bytes and returns the raw signature bytes
/// that go into the annotation (base64).
@discardableResult
public func signImage(
    access: RegistryAccess, repository: String, digest: String, payloadDigest: String? = nil,
    tamperPayloadAfterSigning: Bool = false, dockerReference: String, sign: ([UInt8]) throws -> [UInt8]
) async throws -> String {
    guard digest.hasPrefix("sha256:") else { throw TestRegistryError(description: "\(digest) is not a sha256 digest") }
    var payload = cosignPayload(digest: payloadDigest ?? digest, dockerReference: dockerReference)
    let signature = Data(try sign(payload)).base64EncodedString()
    if tamperPayloadAfterSigning {
        payload = cosignPayload(digest: payloadDigest ?? digest, dockerReference: dockerReference + "-tampered")
    }
    let session = PushSession(access: access, repository: repository)
    let payloadDigestOfLayer = try await session.pushBlob(payload)
    let config = try canonicalJSON([
        "architecture": "", "os": "", "created": "0001-01-01T00:00:00Z", "config": [String: Any](),
        "history": [["created": "0001-01-01T00:00:00Z"]],
        "rootfs": ["type": "layers", "diff_ids": [payloadDigestOfLayer]],
    ] as [String: Any])
    let configDigest = try await session.pushBlob(config)
    let manifest = try canonicalJSON([
        "schemaVersion": 2, "mediaType": OCIMediaType.manifest,
        "config": ["mediaType": OCIMediaType.config, "digest": configDigest, "size": config.count],
        "layers": [[
            "mediaType": CosignSignature.payloadMediaType, "digest": payloadDigestOfLayer, "size": payload.count,
            "annotations": [CosignSignature.signatureAnnotation: signature],
        ]],
    ] as [String: Any])
    let tag = "sha256-\(digest.dropFirst(7)).sig"
    return try await session.pushManifest(manifest, reference: tag, mediaType: OCIMediaType.manifest)
}

/// Writes what cosign 3 writes by default to a registry without the referrers API: a Sigstore
/// bundle as an OCI artifact (`artifactType` application/vnd.dev.sigstore.bundle.v0.3+json,
/// `subject` the image), listed in the referrers tag `sha256-<hex>` (an image index).
/// Returns the digest of the bundle manifest.
@discardableResult
public func pushSigstoreBundleReferrer(access: RegistryAccess, repository: String, digest: String) async throws -> String {
    guard digest.hasPrefix("sha256:") else { throw TestRegistryError(description: "\(digest) is not a sha256 digest") }
    let session = PushSession(access: access, repository: repository)
    let subjectSize = try await session.manifestSize(digest)
    let empty = Array("{}".utf8)
    let emptyDigest = try await session.pushBlob(empty)
    let bundle = try canonicalJSON([
        "mediaType": OCIMediaType.sigstoreBundle,
        "verificationMaterial": ["publicKey": ["hint": "slipway-test"]],
        "messageSignature": ["messageDigest": ["algorithm": "SHA2_256", "digest": "AAAA"], "signature": "AAAA"],
    ] as [String: Any])
    let bundleDigest = try await session.pushBlob(bundle)
    let manifest = try canonicalJSON([
        "schemaVersion": 2, "mediaType": OCIMediaType.manifest, "artifactType": OCIMediaType.sigstoreBundle,
        "config": ["mediaType": OCIMediaType.empty, "digest": emptyDigest, "size": empty.count],
        "layers": [["mediaType": OCIMediaType.sigstoreBundle, "digest": bundleDigest, "size": bundle.count]],
        "subject": ["mediaType": OCIMediaType.manifest, "digest": digest, "size": subjectSize],
        "annotations": ["dev.sigstore.bundle.content": "message-signature"],
    ] as [String: Any])
    let manifestDigest = sha256Digest(manifest)
    try await session.pushManifest(manifest, reference: manifestDigest, mediaType: OCIMediaType.manifest)
    let index = try canonicalJSON([
        "schemaVersion": 2, "mediaType": OCIMediaType.index,
        "manifests": [[
            "mediaType": OCIMediaType.manifest, "digest": manifestDigest, "size": manifest.count,
            "artifactType": OCIMediaType.sigstoreBundle,
        ]],
    ] as [String: Any])
    try await session.pushManifest(index, reference: "sha256-\(digest.dropFirst(7))", mediaType: OCIMediaType.index)
    return manifestDigest
}

/// Writes to one repository, signing in as the registry asks (Basic, or a bearer token with
/// scope `repository:<name>:pull,push`).
final class PushSession {
    let access: RegistryAccess
    let repository: String
    let base: String
    var authorization: String?
    let client = HTTPClient.shared

    init(access: RegistryAccess, repository: String) {
        self.access = access
        self.repository = repository
        self.base = (access.insecure ? "http://" : "https://") + access.host
    }

    func pushBlob(_ bytes: [UInt8]) async throws -> String {
        let digest = sha256Digest(bytes)
        let start = try await send(.POST, "\(base)/v2/\(repository)/blobs/uploads/", body: [])
        guard start.status == .accepted, let location = start.headers.first(name: "Location") else {
            throw TestRegistryError(description: "starting a blob upload to \(access.host)/\(repository): HTTP \(start.status.code) \(start.text)")
        }
        var url = location.hasPrefix("/") ? base + location : location
        url += (url.contains("?") ? "&" : "?") + "digest=\(digest)"
        let put = try await send(.PUT, url, body: bytes, contentType: "application/octet-stream")
        guard put.status == .created else {
            throw TestRegistryError(description: "uploading blob \(digest) to \(access.host)/\(repository): HTTP \(put.status.code) \(put.text)")
        }
        return digest
    }

    @discardableResult
    func pushManifest(_ body: [UInt8], reference: String, mediaType: String) async throws -> String {
        let response = try await send(.PUT, "\(base)/v2/\(repository)/manifests/\(reference)", body: body, contentType: mediaType)
        guard response.status == .created else {
            throw TestRegistryError(description: "putting manifest \(reference) to \(access.host)/\(repository): HTTP \(response.status.code) \(response.text)")
        }
        return sha256Digest(body)
    }

    func manifestSize(_ reference: String) async throws -> Int {
        let response = try await send(
            .GET, "\(base)/v2/\(repository)/manifests/\(reference)", body: nil,
            accept: "\(OCIMediaType.manifest), \(OCIMediaType.index), application/vnd.docker.distribution.manifest.v2+json"
        )
        guard response.status == .ok else {
            throw TestRegistryError(description: "reading manifest \(reference) of \(access.host)/\(repository): HTTP \(response.status.code)")
        }
        return response.body.readableBytes
    }

    struct Answer {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
        var text: String { String(buffer: body) }
    }

    func send(_ method: HTTPMethod, _ url: String, body: [UInt8]?, contentType: String? = nil, accept: String? = nil) async throws -> Answer {
        var answer = try await once(method, url, body: body, contentType: contentType, accept: accept)
        if answer.status == .unauthorized {
            try await signIn(answer.headers["WWW-Authenticate"].flatMap { AuthChallenge.parse($0) })
            answer = try await once(method, url, body: body, contentType: contentType, accept: accept)
        }
        return answer
    }

    func once(_ method: HTTPMethod, _ url: String, body: [UInt8]?, contentType: String?, accept: String?) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let accept { request.headers.add(name: "Accept", value: accept) }
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 8 * 1024 * 1024)
        return Answer(status: response.status, headers: response.headers, body: bytes)
    }

    func signIn(_ challenges: [AuthChallenge]) async throws {
        let basic = access.username.map { "Basic " + Data("\($0):\(access.password ?? "")".utf8).base64EncodedString() }
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }), let realm = bearer.parameters["realm"] {
            var components = URLComponents(string: realm)!
            var items = components.queryItems ?? []
            if let service = bearer.parameters["service"] { items.append(URLQueryItem(name: "service", value: service)) }
            items.append(URLQueryItem(name: "scope", value: "repository:\(repository):pull,push"))
            components.queryItems = items
            var request = HTTPClientRequest(url: components.string!)
            if let basic { request.headers.add(name: "Authorization", value: basic) }
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 1024 * 1024)
            guard response.status == .ok,
                let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
                let token = object["token"] as? String ?? object["access_token"] as? String
            else {
                throw TestRegistryError(description: "token service \(realm) answered HTTP \(response.status.code) \(String(buffer: body))")
            }
            authorization = "Bearer \(token)"
        } else if challenges.contains(where: { $0.scheme == "basic" }), let basic {
            authorization = basic
        } else {
            throw TestRegistryError(description: "\(access.host) asks for a sign-in this helper cannot give: \(challenges)")
        }
    }
}
