import Crypto
import Foundation
import RegistryTestSupport
import SlipwayRegistry
import Testing

/// The client against the anonymous registry scripts/test.sh starts (distribution 2.8).
@Suite(.enabled(if: TestRegistry.anonymous != nil, "SLIPWAY_TEST_REGISTRY is not set (scripts/test.sh sets it)"))
struct AnonymousRegistryTests {
    let access = TestRegistry.anonymous!
    let client = RegistryClient()

    @Test func resolvesThePushedDigest() async throws {
        let repository = TestRegistry.uniqueRepository("resolve")
        let pushed = try await pushImage(access: access, repository: repository, tag: "v1", content: "one")
        let resolved = try await client.resolveDigest(access, repository: repository, tag: "v1")
        #expect(resolved == pushed)
        #expect(resolved.hasPrefix("sha256:") && resolved.count == 71)
    }

    @Test func aMovedTagResolvesToTheNewDigest() async throws {
        let repository = TestRegistry.uniqueRepository("moved")
        let first = try await pushImage(access: access, repository: repository, tag: "stable", content: "first")
        #expect(try await client.resolveDigest(access, repository: repository, tag: "stable") == first)
        let second = try await pushImage(access: access, repository: repository, tag: "stable", content: "second")
        #expect(second != first)
        #expect(try await client.resolveDigest(access, repository: repository, tag: "stable") == second)
    }

    @Test func aMissingTagIsNotFound() async throws {
        let repository = TestRegistry.uniqueRepository("missing-tag")
        try await pushImage(access: access, repository: repository, tag: "v1", content: "x")
        let error = await expectRegistryError(.notFound) {
            _ = try await client.resolveDigest(access, repository: repository, tag: "v2")
        }
        #expect(
            error?.message
                == "\(access.host)/\(repository):v2 not found: repository \(repository) on \(access.host) has no such tag or digest"
        )
    }

    @Test func aMissingRepositoryIsNotFound() async throws {
        let repository = TestRegistry.uniqueRepository("never-pushed")
        let error = await expectRegistryError(.notFound) {
            _ = try await client.resolveDigest(access, repository: repository, tag: "latest")
        }
        #expect(error?.message == "\(access.host)/\(repository):latest not found: repository \(repository) does not exist on \(access.host)")
    }

    // MARK: - Signatures

    static let key = P256.Signing.PrivateKey()

    func signedImage(_ name: String) async throws -> (repository: String, digest: String) {
        let repository = TestRegistry.uniqueRepository(name)
        let digest = try await pushImage(access: access, repository: repository, tag: "v1", content: name)
        return (repository, digest)
    }

    @Test func aSignedImageVerifies() async throws {
        let (repository, digest) = try await signedImage("signed")
        try await signImage(
            access: access, repository: repository, digest: digest, key: Self.key, dockerReference: "\(access.host)/\(repository)"
        )
        try await client.verifySignature(access, repository: repository, digest: digest, publicKeyPEM: Self.key.publicKey.pemRepresentation)
    }

    @Test func anUnsignedImageHasNoSignature() async throws {
        let (repository, digest) = try await signedImage("unsigned")
        let error = await expectRegistryError(.signatureInvalid) {
            try await client.verifySignature(access, repository: repository, digest: digest, publicKeyPEM: Self.key.publicKey.pemRepresentation)
        }
        #expect(
            error?.message
                == "no cosign signature found for \(access.host)/\(repository)@\(digest) (looked for tag sha256-\(digest.dropFirst(7)).sig)"
        )
    }

    @Test func anotherKeyDoesNotVerify() async throws {
        let (repository, digest) = try await signedImage("other-key")
        try await signImage(
            access: access, repository: repository, digest: digest, key: P256.Signing.PrivateKey(), dockerReference: "\(access.host)/\(repository)"
        )
        let error = await expectRegistryError(.signatureInvalid) {
            try await client.verifySignature(access, repository: repository, digest: digest, publicKeyPEM: Self.key.publicKey.pemRepresentation)
        }
        #expect(error?.message == "the cosign signature of \(access.host)/\(repository)@\(digest) is invalid: \(doesNotVerify)")
    }

    @Test func aPayloadForAnotherDigestDoesNotCount() async throws {
        let (repository, digest) = try await signedImage("other-digest")
        let other = try await pushImage(access: access, repository: repository, tag: "v2", content: "another image")
        try await signImage(
            access: access, repository: repository, digest: digest, key: Self.key, payloadDigest: other,
            dockerReference: "\(access.host)/\(repository)"
        )
        let error = await expectRegistryError(.signatureInvalid) {
            try await client.verifySignature(access, repository: repository, digest: digest, publicKeyPEM: Self.key.publicKey.pemRepresentation)
        }
        #expect(
            error?.message
                == "the cosign signature of \(access.host)/\(repository)@\(digest) is invalid: the payload signs \(other), not \(digest) (a signature of another image)"
        )
    }

    @Test func aTamperedPayloadDoesNotVerify() async throws {
        let (repository, digest) = try await signedImage("tampered-payload")
        try await signImage(
            access: access, repository: repository, digest: digest, key: Self.key, tamperPayloadAfterSigning: true,
            dockerReference: "\(access.host)/\(repository)"
        )
        let error = await expectRegistryError(.signatureInvalid) {
            try await client.verifySignature(access, repository: repository, digest: digest, publicKeyPEM: Self.key.publicKey.pemRepresentation)
        }
        #expect(error?.message == "the cosign signature of \(access.host)/\(repository)@\(digest) is invalid: \(doesNotVerify)")
    }

    @Test func aSigstoreBundleIsRefusedWithAHint() async throws {
        let (repository, digest) = try await signedImage("bundle")
        try await pushSigstoreBundleReferrer(access: access, repository: repository, digest: digest)
        let error = await expectRegistryError(.signatureInvalid) {
            try await client.verifySignature(access, repository: repository, digest: digest, publicKeyPEM: Self.key.publicKey.pemRepresentation)
        }
        let message = error?.message ?? ""
        #expect(message.hasPrefix("\(access.host)/\(repository)@\(digest) is signed in the Sigstore bundle format"))
        #expect(message.contains("application/vnd.dev.sigstore.bundle.v0.3+json"))
        #expect(message.contains("which Slipway does not verify"))
        #expect(message.contains("--new-bundle-format=false"))
        #expect(message.contains("--use-signing-config=false"))
    }

    @Test func aSignatureNextToABundleStillVerifies() async throws {
        let (repository, digest) = try await signedImage("both")
        try await pushSigstoreBundleReferrer(access: access, repository: repository, digest: digest)
        try await signImage(access: access, repository: repository, digest: digest, key: Self.key, dockerReference: "x")
        try await client.verifySignature(access, repository: repository, digest: digest, publicKeyPEM: Self.key.publicKey.pemRepresentation)
    }
}

/// What a real registry will not do, from a stub server; and no registry at all.
@Suite struct RegistryFailureTests {
    /// Generous: the stub answers at once, but the whole suite shares two cores with the rest of the tests.
    let client = RegistryClient(timeout: .seconds(20))

    @Test func aClosedPortIsUnavailable() async {
        let access = RegistryAccess(host: "127.0.0.1:1", insecure: true)
        let error = await expectRegistryError(.unavailable) {
            _ = try await client.resolveDigest(access, repository: "app", tag: "v1")
        }
        #expect(error?.message == "cannot reach registry 127.0.0.1:1 for 127.0.0.1:1/app:v1: connection refused")
    }

    @Test func aServerErrorIsUnavailable() async throws {
        try await withStubRegistry(respond: { _, _ in StubAnswer(status: 500) }) { host in
            let error = await expectRegistryError(.unavailable) {
                _ = try await client.resolveDigest(RegistryAccess(host: host, insecure: true), repository: "app", tag: "v1")
            }
            #expect(error?.message == "registry \(host) failed while serving the manifest of \(host)/app:v1 (HTTP 500)")
        }
    }

    @Test func aRegistryThatHangsTimesOut() async throws {
        let client = RegistryClient(timeout: .milliseconds(300))
        try await withSilentListener { host in
            let error = await expectRegistryError(.unavailable) {
                _ = try await client.resolveDigest(RegistryAccess(host: host, insecure: true), repository: "app", tag: "v1")
            }
            #expect(error?.message == "registry \(host) did not answer within 0.3 s for \(host)/app:v1")
        }
    }

    @Test func aManifestThatDoesNotMatchItsDigestIsRefused() async throws {
        let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#
        let claimed = "sha256:" + String(repeating: "a", count: 64)
        try await withStubRegistry(respond: { method, _ in
            method == "HEAD"
                ? StubAnswer(status: 200)
                : .json(manifest, headers: ["Docker-Content-Digest": claimed, "Content-Type": "application/vnd.oci.image.manifest.v1+json"])
        }) { host in
            let error = await expectRegistryError(.refused) {
                _ = try await client.resolveDigest(RegistryAccess(host: host, insecure: true), repository: "app", tag: "v1")
            }
            #expect(error?.message.hasPrefix("registry answered a manifest that does not match its digest for \(host)/app:v1") == true)
        }
    }

    /// distribution checks every blob against its digest on upload, so a layer whose content does
    /// not match its digest can only come from a registry that lies: the stub serves one.
    @Test func aTamperedLayerIsNamed() async throws {
        let key = P256.Signing.PrivateKey()
        let digest = "sha256:" + String(repeating: "1", count: 64)
        let payload = cosignPayload(digest: digest, dockerReference: "x/app")
        let signature = try key.signature(for: payload).derRepresentation.base64EncodedString()
        let layerDigest = sha256Digest(payload)
        let served = cosignPayload(digest: digest, dockerReference: "x/evil")
        let manifest = String(
            decoding: try canonicalJSON([
                "schemaVersion": 2, "mediaType": OCIMediaType.manifest,
                "config": ["mediaType": OCIMediaType.config, "digest": sha256Digest([UInt8]()), "size": 0],
                "layers": [[
                    "mediaType": CosignSignature.payloadMediaType, "digest": layerDigest, "size": payload.count,
                    "annotations": [CosignSignature.signatureAnnotation: signature],
                ]],
            ] as [String: Any]),
            as: UTF8.self
        )
        try await withStubRegistry(respond: { _, path in
            if path == "/v2/app/manifests/sha256-\(digest.dropFirst(7)).sig" { return .json(manifest) }
            if path == "/v2/app/blobs/\(layerDigest)" { return StubAnswer(status: 200, body: served) }
            return StubAnswer(status: 404)
        }) { host in
            let error = await expectRegistryError(.signatureInvalid) {
                try await client.verifySignature(
                    RegistryAccess(host: host, insecure: true), repository: "app", digest: digest, publicKeyPEM: key.publicKey.pemRepresentation
                )
            }
            #expect(
                error?.message
                    == "the cosign signature of \(host)/app@\(digest) is invalid: tampered: layer content does not match its digest (layer \(layerDigest), content hashes to \(sha256Digest(served)))"
            )
        }
    }

    @Test func aSignatureManifestWithoutSignatureLayers() async throws {
        let digest = "sha256:" + String(repeating: "2", count: 64)
        try await withStubRegistry(respond: { _, path in
            path.hasSuffix(".sig") ? .json(#"{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:00","size":1}]}"#)
                : StubAnswer(status: 404)
        }) { host in
            let error = await expectRegistryError(.signatureInvalid) {
                try await client.verifySignature(
                    RegistryAccess(host: host, insecure: true), repository: "app", digest: digest,
                    publicKeyPEM: P256.Signing.PrivateKey().publicKey.pemRepresentation
                )
            }
            #expect(error?.message.hasPrefix("the cosign signature of \(host)/app@\(digest) (tag sha256-\(digest.dropFirst(7)).sig) has no signature layers") == true)
        }
    }
}
