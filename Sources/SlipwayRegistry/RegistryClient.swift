import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Reads OCI registries (the distribution API): resolves tags to manifest digests and checks
/// cosign's tag-based signatures. Anonymous first; on 401 it signs in as the registry asks
/// (Basic, or the Docker token flow with the token cached until it expires).
public struct RegistryClient: Sendable {
    let httpClient: HTTPClient
    let timeout: Duration
    let tokens = TokenCache.shared

    public init(httpClient: HTTPClient = RegistryClient.connections, timeout: Duration = .seconds(10)) {
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// The connections registry calls share. A refused connection fails at once (a client that retries
    /// connecting until the deadline would hold a release for the whole timeout on a registry that is down),
    /// and redirects are followed by hand so that credentials never go to another host.
    public static let connections: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Resolves repository:tag to the manifest digest ("sha256:<64 hex>").
    public func resolveDigest(_ access: RegistryAccess, repository: String, tag: String) async throws -> String {
        let target = Target(access: access, repository: repository)
        let image = target.image(tag: tag)
        try Self.check(tag: tag, image: image)
        return try await manifestDigest(target, reference: tag, image: image)
    }

    /// Verifies that a cosign signature (key-pair, tag-based) signs `digest` with `publicKeyPEM`. Throws RegistryError.
    public func verifySignature(_ access: RegistryAccess, repository: String, digest: String, publicKeyPEM: String) async throws {
        let target = Target(access: access, repository: repository)
        let image = target.image(digest: digest)
        guard let hex = Self.sha256Hex(digest) else {
            throw RegistryError(.signatureInvalid, "cannot check the signature of \(image): \"\(digest)\" is not a sha256:<64 hex> digest")
        }
        let key: VerificationKey
        do {
            key = try VerificationKey(pem: publicKeyPEM)
        } catch let error as RegistryError {
            throw RegistryError(error.kind, "cannot check the signature of \(image): \(error.message)")
        }
        let signatureTag = "sha256-\(hex).sig"
        let signatureImage = target.image(tag: signatureTag)
        guard let manifest = try await fetchManifest(target, reference: signatureTag, image: signatureImage, missingIsNil: true) else {
            if let bundleType = try await sigstoreBundleReferrer(target, digest: digest, hex: String(hex), image: image) {
                throw RegistryError(
                    .signatureInvalid,
                    "\(image) is signed in the Sigstore bundle format (\(bundleType)), which Slipway does not verify; "
                        + "sign it with `cosign sign --key <key> --new-bundle-format=false` (and `--use-signing-config=false` on cosign 3) "
                        + "to write the tag-based signature (\(signatureTag)) Slipway checks"
                )
            }
            throw RegistryError(.signatureInvalid, "no cosign signature found for \(image) (looked for tag \(signatureTag))")
        }
        let layers = try Self.signatureLayers(manifest.body, image: signatureImage)
        guard !layers.isEmpty else {
            throw RegistryError(
                .signatureInvalid,
                "the cosign signature of \(image) (tag \(signatureTag)) has no signature layers (\(CosignSignature.payloadMediaType) with the \(CosignSignature.signatureAnnotation) annotation)"
            )
        }
        var failures: [String] = []
        for layer in layers {
            do {
                let payload = try await fetchPayload(target, layer: layer, image: image)
                try CosignSignature.verify(payload: payload, signatureBase64: layer.signature, key: key, digest: digest)
                return
            } catch let error as RegistryError where error.kind == .signatureInvalid {
                failures.append(error.message)
            }
        }
        if failures.count == 1 {
            throw RegistryError(.signatureInvalid, "the cosign signature of \(image) is invalid: \(failures[0])")
        }
        let list = failures.enumerated().map { "\($0.offset + 1)) \($0.element)" }.joined(separator: "; ")
        throw RegistryError(.signatureInvalid, "none of the \(failures.count) cosign signatures of \(image) is valid: \(list)")
    }

    // MARK: - Manifests

    static let manifestTypes = [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
    static let manifestAccept = manifestTypes.joined(separator: ", ")
    static let manifestLimit = 4 * 1024 * 1024
    static let payloadLimit = 1024 * 1024
    static let tokenLimit = 1024 * 1024

    struct Manifest {
        var digest: String
        var body: ByteBuffer
    }

    func manifestDigest(_ target: Target, reference: String, image: String) async throws -> String {
        let url = target.url("manifests/\(reference)")
        let head = try await send(target, method: .HEAD, url: url, accept: Self.manifestAccept, image: image, limit: 0)
        switch head.status.code {
        case 200:
            if let digest = head.headers.first(name: "Docker-Content-Digest"), Self.sha256Hex(digest) != nil {
                return digest
            }
            // No usable digest in the answer: fetch the manifest and hash it.
            guard let manifest = try await fetchManifest(target, reference: reference, image: image, missingIsNil: false) else {
                throw RegistryError(.notFound, "\(image) not found")
            }
            return manifest.digest
        case 404:
            throw try await missing(target, reference: reference, image: image)
        default:
            throw Self.statusError(head, image: image, target: target, what: "the manifest")
        }
    }

    /// Why a manifest is missing: the repository, or the tag in it. HEAD has no body, and
    /// distribution answers MANIFEST_UNKNOWN for a repository that does not exist too, so ask the
    /// tag list (NAME_UNKNOWN there means no repository).
    func missing(_ target: Target, reference: String, image: String) async throws -> RegistryError {
        let tags = try await send(target, method: .GET, url: target.url("tags/list?n=1"), accept: "application/json", image: image, limit: Self.manifestLimit)
        switch tags.status.code {
        case 200:
            return RegistryError(.notFound, "\(image) not found: repository \(target.repository) on \(target.access.host) has no such tag or digest")
        case 404:
            return RegistryError(.notFound, "\(image) not found: repository \(target.repository) does not exist on \(target.access.host)")
        default:
            return RegistryError(.notFound, "\(image) not found on \(target.access.host)")
        }
    }

    /// GETs a manifest by tag or digest and checks that its bytes hash to its digest.
    func fetchManifest(_ target: Target, reference: String, image: String, missingIsNil: Bool) async throws -> Manifest? {
        let url = target.url("manifests/\(reference)")
        let response = try await send(target, method: .GET, url: url, accept: Self.manifestAccept, image: image, limit: Self.manifestLimit)
        switch response.status.code {
        case 200:
            break
        case 404:
            if missingIsNil { return nil }
            throw try await missing(target, reference: reference, image: image)
        default:
            throw Self.statusError(response, image: image, target: target, what: "the manifest")
        }
        let actual = "sha256:" + Self.hex(SHA256.hash(data: response.body.readableBytesView))
        var expected: String? = reference.hasPrefix("sha256:") ? reference : nil
        if let header = response.headers.first(name: "Docker-Content-Digest"), !header.isEmpty {
            guard Self.sha256Hex(header) != nil else {
                throw RegistryError(.refused, "registry \(target.access.host) answered \(image) with an unsupported digest \"\(header)\"")
            }
            if let requested = expected, requested != header {
                throw RegistryError(.refused, "registry answered a manifest that does not match its digest for \(image) (asked for \(requested), answered \(header))")
            }
            expected = header
        }
        if let expected, expected != actual {
            throw RegistryError(.refused, "registry answered a manifest that does not match its digest for \(image) (digest \(expected), content hashes to \(actual))")
        }
        return Manifest(digest: actual, body: response.body)
    }

    // MARK: - Signatures

    struct SignatureLayer {
        var digest: String
        var size: Int?
        var signature: String
    }

    static func signatureLayers(_ body: ByteBuffer, image: String) throws -> [SignatureLayer] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            throw RegistryError(.signatureInvalid, "the cosign signature manifest \(image) is malformed: not a JSON object")
        }
        guard let layers = object["layers"] as? [[String: Any]] else {
            return []
        }
        return layers.compactMap { layer in
            guard layer["mediaType"] as? String == CosignSignature.payloadMediaType,
                let digest = layer["digest"] as? String,
                let annotations = layer["annotations"] as? [String: Any],
                let signature = annotations[CosignSignature.signatureAnnotation] as? String
            else { return nil }
            return SignatureLayer(digest: digest, size: (layer["size"] as? NSNumber)?.intValue, signature: signature)
        }
    }

    /// The payload blob of a signature layer, checked against the layer's digest. Problems with
    /// the payload itself are `signatureInvalid` (so that another layer may still verify).
    func fetchPayload(_ target: Target, layer: SignatureLayer, image: String) async throws -> [UInt8] {
        guard Self.sha256Hex(layer.digest) != nil else {
            throw RegistryError(.signatureInvalid, "malformed signature layer: digest \"\(layer.digest)\" is not sha256:<64 hex>")
        }
        if let size = layer.size, size > Self.payloadLimit {
            throw RegistryError(.signatureInvalid, "malformed signature layer: the payload is \(size) bytes, more than \(Self.payloadLimit)")
        }
        let blobImage = "\(target.access.host)/\(target.repository)@\(layer.digest)"
        var url = target.url("blobs/\(layer.digest)")
        var response = try await send(target, method: .GET, url: url, accept: nil, image: blobImage, limit: Self.payloadLimit)
        // Registries often redirect blobs to storage elsewhere: follow without our credentials.
        var hops = 0
        while [301, 302, 303, 307, 308].contains(response.status.code), let location = response.headers.first(name: "Location"), hops < 5 {
            guard let next = URL(string: location, relativeTo: URL(string: url))?.absoluteString else { break }
            url = next
            hops += 1
            response = try await sendPlain(method: .GET, url: url, headers: [:], image: blobImage, host: target.access.host, limit: Self.payloadLimit)
        }
        switch response.status.code {
        case 200:
            break
        case 404:
            throw RegistryError(.signatureInvalid, "malformed signature: the payload blob \(layer.digest) is missing from \(target.access.host)/\(target.repository)")
        default:
            throw Self.statusError(response, image: blobImage, target: target, what: "the signature payload")
        }
        let bytes = Array(response.body.readableBytesView)
        let actual = "sha256:" + Self.hex(SHA256.hash(data: bytes))
        guard actual == layer.digest else {
            throw RegistryError(.signatureInvalid, "tampered: layer content does not match its digest (layer \(layer.digest), content hashes to \(actual))")
        }
        return bytes
    }

    /// The artifact type of a Sigstore bundle that refers to the image, if any: through the OCI
    /// referrers API, else the referrers tag schema (`sha256-<hex>`).
    func sigstoreBundleReferrer(_ target: Target, digest: String, hex: String, image: String) async throws -> String? {
        let referrersURL = target.url("referrers/\(digest)")
        let response = try await send(
            target, method: .GET, url: referrersURL, accept: "application/vnd.oci.image.index.v1+json", image: image, limit: Self.manifestLimit
        )
        if response.status.code == 200, let type = Self.bundleType(in: response.body) {
            return type
        }
        let fallbackTag = "sha256-\(hex)"
        if let index = try await fetchManifest(target, reference: fallbackTag, image: target.image(tag: fallbackTag), missingIsNil: true),
            let type = Self.bundleType(in: index.body)
        {
            return type
        }
        return nil
    }

    static func bundleType(in body: ByteBuffer) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else { return nil }
        func type(of item: [String: Any]) -> String? {
            for key in ["artifactType", "mediaType"] {
                if let value = item[key] as? String, value.hasPrefix("application/vnd.dev.sigstore.bundle") { return value }
            }
            if let config = item["config"] as? [String: Any], let value = config["mediaType"] as? String,
                value.hasPrefix("application/vnd.dev.sigstore.bundle")
            {
                return value
            }
            return nil
        }
        // An index (the referrers answer or the referrers tag) lists its referrers; a single manifest is one.
        if let manifests = object["manifests"] as? [[String: Any]] {
            return manifests.lazy.compactMap(type(of:)).first
        }
        return type(of: object)
    }

    // MARK: - HTTP and auth

    struct Target {
        var access: RegistryAccess
        /// The repository as the API names it (`library/nginx` for Docker Hub's `nginx`).
        var repository: String
        var base: String

        init(access: RegistryAccess, repository: String) {
            self.access = access
            var apiHost = access.host
            var repository = repository
            if access.host == "docker.io" || access.host == "index.docker.io" {
                apiHost = "registry-1.docker.io"
                if !repository.contains("/") { repository = "library/" + repository }
            }
            self.repository = repository
            self.base = (access.insecure ? "http://" : "https://") + apiHost
        }

        func url(_ path: String) -> String { "\(base)/v2/\(repository)/\(path)" }
        func image(tag: String) -> String { "\(access.host)/\(repository):\(tag)" }
        func image(digest: String) -> String { "\(access.host)/\(repository)@\(digest)" }

        var cacheKey: TokenCache.Key {
            TokenCache.Key(host: access.host, repository: repository, username: access.username, password: access.password)
        }
    }

    struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    static func check(tag: String, image: String) throws {
        let allowed = tag.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
        }
        guard !tag.isEmpty, tag.utf8.count <= 128, allowed else {
            throw RegistryError(.refused, "\(image): \"\(tag)\" is not a valid tag")
        }
    }

    /// Sends a request to the registry, signing in as a 401 asks and retrying once.
    func send(_ target: Target, method: HTTPMethod, url: String, accept: String?, image: String, limit: Int) async throws -> Response {
        var headers = HTTPHeaders()
        if let accept { headers.add(name: "Accept", value: accept) }
        let cached = await tokens.authorization(for: target.cacheKey)
        var attempt = headers
        if let cached { attempt.add(name: "Authorization", value: cached) }
        let first = try await sendPlain(method: method, url: url, headers: attempt, image: image, host: target.access.host, limit: limit)
        guard first.status.code == 401 else { return first }

        let challenges = first.headers["WWW-Authenticate"].flatMap { AuthChallenge.parse($0) }
        let authorization = try await signIn(target, challenges: challenges, image: image)
        headers.add(name: "Authorization", value: authorization)
        let second = try await sendPlain(method: method, url: url, headers: headers, image: image, host: target.access.host, limit: limit)
        if second.status.code == 401 {
            await tokens.forget(target.cacheKey)
            if target.access.username == nil {
                throw RegistryError(.refused, "registry \(target.access.host) needs credentials for \(image) (anonymous access refused, HTTP 401)")
            }
            throw RegistryError(.refused, "registry \(target.access.host) refused the credentials\(Self.userPart(target.access)) for \(image) (HTTP 401)")
        }
        return second
    }

    static func userPart(_ access: RegistryAccess) -> String {
        access.username.map { " of user \"\($0)\"" } ?? ""
    }

    /// Answers a 401's challenges: the header value to retry with.
    func signIn(_ target: Target, challenges: [AuthChallenge], image: String) async throws -> String {
        let access = target.access
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
            guard let realm = bearer.parameters["realm"], !realm.isEmpty else {
                throw RegistryError(.refused, "registry \(access.host) asks for a bearer token for \(image) but names no token service (realm)")
            }
            let (token, lifetime) = try await fetchToken(target, realm: realm, service: bearer.parameters["service"], image: image)
            let authorization = "Bearer \(token)"
            await tokens.store(authorization, for: target.cacheKey, lifetime: lifetime)
            return authorization
        }
        if challenges.contains(where: { $0.scheme == "basic" }) {
            guard let basic = Self.basic(access) else {
                throw RegistryError(
                    .refused,
                    "registry \(access.host) needs credentials for \(image) (it asks for Basic auth and no username/password is configured)"
                )
            }
            await tokens.store(basic, for: target.cacheKey, lifetime: nil)
            return basic
        }
        let offered = challenges.map(\.scheme).joined(separator: ", ")
        throw RegistryError(
            .refused,
            "registry \(access.host) refused anonymous access to \(image) (HTTP 401) and offers no usable sign-in (WWW-Authenticate: \(offered.isEmpty ? "none" : offered))"
        )
    }

    static func basic(_ access: RegistryAccess) -> String? {
        guard let username = access.username else { return nil }
        let raw = "\(username):\(access.password ?? "")"
        return "Basic " + Data(raw.utf8).base64EncodedString()
    }

    /// The Docker token flow: GET realm?service=…&scope=repository:<name>:pull.
    func fetchToken(_ target: Target, realm: String, service: String?, image: String) async throws -> (String, Duration) {
        guard var components = URLComponents(string: realm), components.scheme == "https" || components.scheme == "http" else {
            throw RegistryError(.refused, "registry \(target.access.host) names a token service that is not an http(s) URL: \"\(realm)\"")
        }
        var items = components.queryItems ?? []
        if let service { items.append(URLQueryItem(name: "service", value: service)) }
        items.append(URLQueryItem(name: "scope", value: "repository:\(target.repository):pull"))
        components.queryItems = items
        // `+` is literal in URLComponents but means a space to many servers.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        guard let url = components.string else {
            throw RegistryError(.refused, "registry \(target.access.host) names a token service URL that cannot be used: \"\(realm)\"")
        }
        var headers = HTTPHeaders()
        if let basic = Self.basic(target.access) { headers.add(name: "Authorization", value: basic) }
        headers.add(name: "Accept", value: "application/json")
        let response = try await sendPlain(method: .GET, url: url, headers: headers, image: image, host: components.host ?? realm, limit: Self.tokenLimit)
        switch response.status.code {
        case 200:
            break
        case 401, 403:
            if target.access.username == nil {
                throw RegistryError(
                    .refused,
                    "registry \(target.access.host) needs credentials for \(image): its token service \(realm) refused an anonymous token (HTTP \(response.status.code))"
                )
            }
            throw RegistryError(
                .refused,
                "registry \(target.access.host) refused the credentials\(Self.userPart(target.access)) for \(image): its token service \(realm) answered HTTP \(response.status.code)"
            )
        case 500...599:
            throw RegistryError(.unavailable, "the token service \(realm) of \(target.access.host) failed for \(image) (HTTP \(response.status.code))")
        default:
            throw RegistryError(.refused, "the token service \(realm) of \(target.access.host) refused a token for \(image) (HTTP \(response.status.code))")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any],
            let token = (object["token"] as? String).flatMap({ $0.isEmpty ? nil : $0 }) ?? (object["access_token"] as? String).flatMap({ $0.isEmpty ? nil : $0 })
        else {
            throw RegistryError(.refused, "the token service \(realm) of \(target.access.host) answered no token for \(image) (expected JSON with \"token\" or \"access_token\")")
        }
        var lifetime = Duration.seconds(60)
        if let seconds = (object["expires_in"] as? NSNumber)?.intValue, seconds > 0 {
            lifetime = .seconds(seconds)
        }
        return (token, lifetime)
    }

    /// One HTTP exchange with a deadline on the whole of it (head and body), the body read up to `limit` bytes.
    func sendPlain(method: HTTPMethod, url: String, headers: HTTPHeaders, image: String, host: String, limit: Int) async throws -> Response {
        var prepared = HTTPClientRequest(url: url)
        prepared.method = method
        prepared.headers = headers
        let request = prepared
        let timeout = self.timeout
        let client = httpClient
        do {
            return try await withThrowingTaskGroup(of: Response?.self) { group in
                group.addTask {
                    let response = try await client.execute(request, timeout: Self.timeAmount(timeout))
                    var body = ByteBuffer()
                    if method != .HEAD {
                        body = try await response.body.collect(upTo: max(limit, 1))
                    }
                    return Response(status: response.status, headers: response.headers, body: body)
                }
                group.addTask {
                    // The client's own deadline (on connecting and the answer's head) comes first
                    // and says why (a refused connection is retried until then); this one bounds
                    // reading the body too.
                    try await Task.sleep(for: timeout + .milliseconds(500))
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let response = first else {
                    throw RegistryError(.unavailable, "registry \(host) did not answer within \(Self.seconds(timeout)) for \(image)")
                }
                return response
            }
        } catch let error as RegistryError {
            throw error
        } catch is NIOTooManyBytesError {
            throw RegistryError(.refused, "registry \(host) answered more than \(limit) bytes for \(image)")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .connectTimeout || error == .readTimeout {
            throw RegistryError(.unavailable, "registry \(host) did not answer within \(Self.seconds(timeout)) for \(image)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RegistryError(.unavailable, "cannot reach registry \(host) for \(image): \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            return "connection refused"
        }
        if text.contains("dnsA") || text.contains("dnsAAAA") || text.contains("getaddrinfo") {
            return "the host name does not resolve (\(text))"
        }
        return text
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds) s" }
        return String(format: "%.3g s", Double(seconds) + Double(attoseconds) / 1e18)
    }

    static func statusError(_ response: Response, image: String, target: Target, what: String) -> RegistryError {
        let code = response.status.code
        let detail = errorDetail(response.body)
        switch code {
        case 401, 403:
            return RegistryError(
                .refused,
                "registry \(target.access.host) refused access to \(image)\(userPart(target.access).isEmpty ? "" : " for user \"\(target.access.username!)\"") (HTTP \(code))\(detail)"
            )
        case 500...599:
            return RegistryError(.unavailable, "registry \(target.access.host) failed while serving \(what) of \(image) (HTTP \(code))\(detail)")
        default:
            return RegistryError(.refused, "registry \(target.access.host) refused \(what) of \(image) (HTTP \(code))\(detail)")
        }
    }

    static func errorDetail(_ body: ByteBuffer) -> String {
        guard body.readableBytes > 0,
            let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
            let errors = object["errors"] as? [[String: Any]], let first = errors.first
        else { return "" }
        let code = first["code"] as? String ?? ""
        let message = first["message"] as? String ?? ""
        let text = [code, message].filter { !$0.isEmpty }.joined(separator: ": ")
        return text.isEmpty ? "" : ": \(text)"
    }

    static func sha256Hex(_ digest: String) -> Substring? {
        guard digest.hasPrefix("sha256:") else { return nil }
        let hex = digest.dropFirst(7)
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        return hex
    }

    static func hex(_ digest: some Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// Authorization values per registry, repository and credentials: bearer tokens until they
/// expire, Basic credentials once a registry asked for them.
actor TokenCache {
    static let shared = TokenCache()

    struct Key: Hashable {
        var host: String
        var repository: String
        var username: String?
        var password: String?
    }

    private var entries: [Key: (value: String, expires: ContinuousClock.Instant?)] = [:]

    func authorization(for key: Key) -> String? {
        guard let entry = entries[key] else { return nil }
        if let expires = entry.expires, expires <= .now {
            entries[key] = nil
            return nil
        }
        return entry.value
    }

    func store(_ value: String, for key: Key, lifetime: Duration?) {
        if entries.count > 1000 { entries.removeAll() }
        entries[key] = (value, lifetime.map { ContinuousClock.now + $0 })
    }

    func forget(_ key: Key) {
        entries[key] = nil
    }
}
