import Crypto
import CryptoExtras
import Foundation
import X509

/// cosign's key-pair signature of an image (the simple-signing payload and the signature over its
/// raw bytes), checked without any I/O.
///
/// Hashes follow cosign: ECDSA P-256 and RSA (PKCS #1 v1.5) sign the SHA-256 of the payload;
/// P-384 and P-521 keys are accepted with SHA-256 (what cosign's `--key` signing and verifying
/// used until 2.4, and what sigstore-go still accepts for compatibility) or with the curve's own
/// hash (SHA-384 / SHA-512, sigstore's current default); Ed25519 verifies the raw payload
/// (pure Ed25519; Ed25519ph is not supported).
public enum CosignSignature {
    /// The layer media type of a cosign signature.
    public static let payloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
    /// The layer annotation that holds the base64 DER signature.
    public static let signatureAnnotation = "dev.cosignproject.cosign/signature"
    /// `critical.type` of a cosign payload.
    public static let payloadType = "cosign container image signature"

    /// Verifies that `signatureBase64` signs `payload` with `publicKeyPEM`, and that the payload is
    /// a cosign container image signature of `digest` (`sha256:<hex>`).
    /// Throws `RegistryError` of kind `signatureInvalid` saying what is wrong.
    public static func verify(payload: some DataProtocol, signatureBase64: String, publicKeyPEM: String, digest: String) throws {
        let key = try VerificationKey(pem: publicKeyPEM)
        try verify(payload: Array(payload), signatureBase64: signatureBase64, key: key, digest: digest)
    }

    static func verify(payload: [UInt8], signatureBase64: String, key: VerificationKey, digest: String) throws {
        let trimmed = signatureBase64.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, let signature = Data(base64Encoded: trimmed) else {
            throw RegistryError(.signatureInvalid, "malformed signature: the \(signatureAnnotation) annotation is not base64")
        }
        guard key.isValidSignature(Array(signature), for: payload) else {
            throw RegistryError(
                .signatureInvalid,
                "the signature does not verify with the public key (signed by another key, or the payload was tampered with)"
            )
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
            let critical = object["critical"] as? [String: Any]
        else {
            throw RegistryError(.signatureInvalid, "malformed cosign payload: not a JSON object with a \"critical\" section")
        }
        guard let type = critical["type"] as? String else {
            throw RegistryError(.signatureInvalid, "malformed cosign payload: critical.type is missing")
        }
        guard type == payloadType else {
            throw RegistryError(.signatureInvalid, "the payload is of type \"\(type)\", not \"\(payloadType)\"")
        }
        guard let image = critical["image"] as? [String: Any], let signed = image["docker-manifest-digest"] as? String else {
            throw RegistryError(.signatureInvalid, "malformed cosign payload: critical.image.docker-manifest-digest is missing")
        }
        guard signed == digest else {
            throw RegistryError(.signatureInvalid, "the payload signs \(signed), not \(digest) (a signature of another image)")
        }
    }
}

/// A public key cosign can verify with.
enum VerificationKey: Sendable {
    case p256(P256.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)
    case p521(P521.Signing.PublicKey)
    case ed25519(Curve25519.Signing.PublicKey)
    case rsa(_RSA.Signing.PublicKey)

    static let unsupported = "the public key is not a PEM public key of a supported type (ECDSA P-256, P-384, P-521, Ed25519 or RSA)"

    init(pem: String) throws {
        let key: Certificate.PublicKey
        do {
            key = try Certificate.PublicKey(pemEncoded: pem.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw RegistryError(.signatureInvalid, "\(Self.unsupported): \(error)")
        }
        if let k = P256.Signing.PublicKey(key) {
            self = .p256(k)
        } else if let k = P384.Signing.PublicKey(key) {
            self = .p384(k)
        } else if let k = P521.Signing.PublicKey(key) {
            self = .p521(k)
        } else if let k = Curve25519.Signing.PublicKey(key) {
            self = .ed25519(k)
        } else if let k = _RSA.Signing.PublicKey(key) {
            self = .rsa(k)
        } else {
            throw RegistryError(.signatureInvalid, Self.unsupported)
        }
    }

    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        let sha256 = SHA256.hash(data: message)
        switch self {
        case .p256(let key):
            guard let sig = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(sig, for: sha256)
        case .p384(let key):
            guard let sig = try? P384.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(sig, for: sha256) || key.isValidSignature(sig, for: SHA384.hash(data: message))
        case .p521(let key):
            guard let sig = try? P521.Signing.ECDSASignature(derRepresentation: signature) else { return false }
            return key.isValidSignature(sig, for: sha256) || key.isValidSignature(sig, for: SHA512.hash(data: message))
        case .ed25519(let key):
            return key.isValidSignature(signature, for: message)
        case .rsa(let key):
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: sha256, padding: .insecurePKCS1v1_5)
        }
    }
}
