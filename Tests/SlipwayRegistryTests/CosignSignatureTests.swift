import Crypto
import CryptoExtras
import Foundation
import RegistryTestSupport
import SlipwayRegistry
import Testing

/// A signature made by the real cosign (a public test vector of sigstore's Rust client): the payload
/// exactly as signed, the annotation's base64 DER signature, and the PKIX public key.
enum CosignVector {
    static let payload = Array(
        #"{"critical":{"identity":{"docker-reference":"registry-testing.svc.lan/busybox"},"image":{"docker-manifest-digest":"sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"},"type":"cosign container image signature"},"optional":null}"#
            .utf8
    )
    static let digest = "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"
    static let signature = "MEUCIQD6q/COgzOyW0YH1Dk+CCYSt4uAhm3FDHUwvPI55zwnlwIgE0ZK58ZOWpZw8YVmBapJhBqCfdPekIknimuO0xH8Jh8="
    static let publicKeyPEM = """
        -----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAENptdY/l3nB0yqkXLBWkZWQwo6+cu
        OSWS1X9vPavpiQOoTTGC0xX57OojUadxF1cdQmrsiReWg2Wn4FneJfa8xw==
        -----END PUBLIC KEY-----
        """
}

let doesNotVerify = "the signature does not verify with the public key (signed by another key, or the payload was tampered with)"

/// Expects `body` to throw a RegistryError of `kind`; returns it.
@discardableResult
func expectRegistryError(
    _ kind: RegistryError.Kind, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> RegistryError? {
    do {
        try await body()
        Issue.record("expected a RegistryError(.\(kind)), but it succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as RegistryError {
        #expect(error.kind == kind, "\(error.message)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a RegistryError(.\(kind)), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite struct CosignSignatureTests {
    @Test func realCosignSignatureVerifies() throws {
        try CosignSignature.verify(
            payload: CosignVector.payload, signatureBase64: CosignVector.signature, publicKeyPEM: CosignVector.publicKeyPEM,
            digest: CosignVector.digest
        )
    }

    @Test func everyChangedByteOfThePayloadFails() async {
        for index in CosignVector.payload.indices {
            var payload = CosignVector.payload
            payload[index] ^= 0x01
            let error = await expectRegistryError(.signatureInvalid) {
                try CosignSignature.verify(
                    payload: payload, signatureBase64: CosignVector.signature, publicKeyPEM: CosignVector.publicKeyPEM,
                    digest: CosignVector.digest
                )
            }
            #expect(error?.message == doesNotVerify, "byte \(index)")
        }
    }

    @Test func anotherKeyFails() async {
        let other = P256.Signing.PrivateKey().publicKey.pemRepresentation
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(
                payload: CosignVector.payload, signatureBase64: CosignVector.signature, publicKeyPEM: other, digest: CosignVector.digest
            )
        }
        #expect(error?.message == doesNotVerify)
    }

    @Test func theVectorIsNotASignatureOfAnotherDigest() async {
        let other = "sha256:" + String(repeating: "ab", count: 32)
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(
                payload: CosignVector.payload, signatureBase64: CosignVector.signature, publicKeyPEM: CosignVector.publicKeyPEM, digest: other
            )
        }
        #expect(error?.message == "the payload signs \(CosignVector.digest), not \(other) (a signature of another image)")
    }

    // MARK: - Key types

    static let digest = "sha256:" + String(repeating: "0123456789abcdef", count: 4)
    static let payload = cosignPayload(digest: digest, dockerReference: "127.0.0.1:5000/slipway/app")

    /// Each supported key: a public key PEM, a signer of the payload, and another key's PEM.
    struct KeyCase: Sendable, CustomTestStringConvertible {
        var name: String
        var publicKeyPEM: String
        var otherPEM: String
        var sign: @Sendable ([UInt8]) throws -> Data
        var testDescription: String { name }
    }

    static func ed25519PEM(_ key: Curve25519.Signing.PublicKey) -> String {
        // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING key }
        let der = Data([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]) + key.rawRepresentation
        return "-----BEGIN PUBLIC KEY-----\n\(der.base64EncodedString())\n-----END PUBLIC KEY-----\n"
    }

    static let keyCases: [KeyCase] = {
        let p256 = P256.Signing.PrivateKey()
        let p384 = P384.Signing.PrivateKey()
        let p521 = P521.Signing.PrivateKey()
        let ed = Curve25519.Signing.PrivateKey()
        let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        let rsaOther = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
        return [
            KeyCase(
                name: "ECDSA P-256, SHA-256", publicKeyPEM: p256.publicKey.pemRepresentation,
                otherPEM: P256.Signing.PrivateKey().publicKey.pemRepresentation
            ) { try p256.signature(for: SHA256.hash(data: $0)).derRepresentation },
            KeyCase(
                name: "ECDSA P-384, SHA-256 (cosign --key)", publicKeyPEM: p384.publicKey.pemRepresentation,
                otherPEM: P384.Signing.PrivateKey().publicKey.pemRepresentation
            ) { try p384.signature(for: SHA256.hash(data: $0)).derRepresentation },
            KeyCase(
                name: "ECDSA P-384, SHA-384 (sigstore default)", publicKeyPEM: p384.publicKey.pemRepresentation,
                otherPEM: P384.Signing.PrivateKey().publicKey.pemRepresentation
            ) { try p384.signature(for: SHA384.hash(data: $0)).derRepresentation },
            KeyCase(
                name: "ECDSA P-521, SHA-256 (cosign --key)", publicKeyPEM: p521.publicKey.pemRepresentation,
                otherPEM: P521.Signing.PrivateKey().publicKey.pemRepresentation
            ) { try p521.signature(for: SHA256.hash(data: $0)).derRepresentation },
            KeyCase(
                name: "ECDSA P-521, SHA-512 (sigstore default)", publicKeyPEM: p521.publicKey.pemRepresentation,
                otherPEM: P521.Signing.PrivateKey().publicKey.pemRepresentation
            ) { try p521.signature(for: SHA512.hash(data: $0)).derRepresentation },
            KeyCase(
                name: "Ed25519", publicKeyPEM: ed25519PEM(ed.publicKey),
                otherPEM: ed25519PEM(Curve25519.Signing.PrivateKey().publicKey)
            ) { try ed.signature(for: $0) },
            KeyCase(
                name: "RSA 2048, PKCS #1 v1.5, SHA-256", publicKeyPEM: rsa.publicKey.pemRepresentation,
                otherPEM: rsaOther.publicKey.pemRepresentation
            ) { try rsa.signature(for: SHA256.hash(data: $0), padding: .insecurePKCS1v1_5).rawRepresentation },
        ]
    }()

    @Test(arguments: keyCases) func keyTypeVerifies(_ key: KeyCase) throws {
        let signature = try key.sign(Self.payload).base64EncodedString()
        try CosignSignature.verify(payload: Self.payload, signatureBase64: signature, publicKeyPEM: key.publicKeyPEM, digest: Self.digest)
    }

    @Test(arguments: keyCases) func keyTypeRejectsAnotherKey(_ key: KeyCase) async throws {
        let signature = try key.sign(Self.payload).base64EncodedString()
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(payload: Self.payload, signatureBase64: signature, publicKeyPEM: key.otherPEM, digest: Self.digest)
        }
        #expect(error?.message == doesNotVerify)
    }

    @Test(arguments: keyCases) func keyTypeRejectsATamperedPayload(_ key: KeyCase) async throws {
        let signature = try key.sign(Self.payload).base64EncodedString()
        var payload = Self.payload
        payload[payload.count / 2] ^= 0x20
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(payload: payload, signatureBase64: signature, publicKeyPEM: key.publicKeyPEM, digest: Self.digest)
        }
        #expect(error?.message == doesNotVerify)
    }

    @Test(arguments: keyCases) func keyTypeRejectsAPayloadForAnotherDigest(_ key: KeyCase) async throws {
        let signature = try key.sign(Self.payload).base64EncodedString()
        let other = "sha256:" + String(repeating: "f", count: 64)
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(payload: Self.payload, signatureBase64: signature, publicKeyPEM: key.publicKeyPEM, digest: other)
        }
        #expect(error?.message == "the payload signs \(Self.digest), not \(other) (a signature of another image)")
    }

    // MARK: - Malformed input

    @Test func wrongPayloadTypeIsNamed() async throws {
        let key = P256.Signing.PrivateKey()
        let payload = Array(
            #"{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"\#(Self.digest)"},"type":"something else"},"optional":null}"#
                .utf8
        )
        let signature = try key.signature(for: payload).derRepresentation.base64EncodedString()
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(payload: payload, signatureBase64: signature, publicKeyPEM: key.publicKey.pemRepresentation, digest: Self.digest)
        }
        #expect(error?.message == #"the payload is of type "something else", not "cosign container image signature""#)
    }

    @Test func signedNonJSONIsMalformed() async throws {
        let key = P256.Signing.PrivateKey()
        let payload = Array("not json".utf8)
        let signature = try key.signature(for: payload).derRepresentation.base64EncodedString()
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(payload: payload, signatureBase64: signature, publicKeyPEM: key.publicKey.pemRepresentation, digest: Self.digest)
        }
        #expect(error?.message.hasPrefix("malformed cosign payload") == true)
    }

    @Test func signatureThatIsNotBase64IsMalformed() async {
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(
                payload: CosignVector.payload, signatureBase64: "not base64!", publicKeyPEM: CosignVector.publicKeyPEM, digest: CosignVector.digest
            )
        }
        #expect(error?.message == "malformed signature: the dev.cosignproject.cosign/signature annotation is not base64")
    }

    @Test func garbageKeyIsNamed() async {
        let error = await expectRegistryError(.signatureInvalid) {
            try CosignSignature.verify(
                payload: CosignVector.payload, signatureBase64: CosignVector.signature, publicKeyPEM: "hello", digest: CosignVector.digest
            )
        }
        #expect(error?.message.hasPrefix("the public key is not a PEM public key of a supported type") == true)
    }
}

@Suite struct AuthChallengeTests {
    @Test func bearerWithCommasInQuotes() {
        let challenges = AuthChallenge.parse(
            #"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#
        )
        #expect(
            challenges == [
                AuthChallenge(
                    scheme: "Bearer",
                    parameters: ["realm": "https://auth.example.com/token", "service": "registry.example.com", "scope": "repository:a/b:pull,push"]
                )
            ]
        )
    }

    @Test func basicAndSeveralChallenges() {
        let challenges = AuthChallenge.parse(#"Basic realm="a \"quoted\" realm", Bearer realm="http://x/t", error="invalid_token""#)
        #expect(challenges.map(\.scheme) == ["basic", "bearer"])
        #expect(challenges.first?.parameters["realm"] == #"a "quoted" realm"#)
        #expect(challenges.last?.parameters == ["realm": "http://x/t", "error": "invalid_token"])
    }

    @Test func bareScheme() {
        #expect(AuthChallenge.parse("Basic") == [AuthChallenge(scheme: "basic")])
        #expect(AuthChallenge.parse("") == [])
    }
}
