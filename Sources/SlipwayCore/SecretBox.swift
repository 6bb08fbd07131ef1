import Crypto
import Foundation

/// Seals secrets kept in the database (registry passwords) with a key kept outside it, so a copy of the
/// database alone reveals none. AES-256-GCM; each sealed value is bound to what it belongs to (the
/// registry id), so a sealed value moved onto another row does not open.
///
/// Sealed form: `sealed:v1:<key id>:<base64 nonce‖ciphertext‖tag>`, where the key id is the first
/// 8 hex digits of the key's SHA-256: enough to tell which key a value needs, nothing about the key.
public struct SecretBox: Sendable {
    private let key: SymmetricKey
    /// Names the key in sealed values.
    public let keyId: String

    private static let prefix = "sealed:v1:"

    public init(key: SymmetricKey) {
        self.key = key
        self.keyId = Self.identify(key)
    }

    /// A key from its text form: 32 bytes as base64 (what ``generateKeyText()`` writes) or as 64 hex digits.
    public init(keyText: String) throws {
        let text = keyText.trimmingCharacters(in: .whitespacesAndNewlines)
        if let bytes = Data(base64Encoded: text), bytes.count == 32 {
            self.init(key: SymmetricKey(data: bytes))
        } else if text.utf8.count == 64, let bytes = Self.hexBytes(text) {
            self.init(key: SymmetricKey(data: bytes))
        } else {
            throw SecretBoxError("a secret key must be 32 random bytes, written as base64 (44 characters) or as 64 hex digits")
        }
    }

    /// A new random key in its text form.
    public static func generateKeyText() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// Whether `value` is in the sealed form (rather than cleartext written by an older Slipway).
    public static func isSealed(_ value: String) -> Bool { value.hasPrefix(prefix) }

    /// Seals `plaintext` for `owner` (e.g. a registry id).
    public func seal(_ plaintext: String, for owner: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: key, authenticating: Data(owner.utf8))
        guard let combined = box.combined else { throw SecretBoxError("sealing failed") }
        return "\(Self.prefix)\(keyId):\(combined.base64EncodedString())"
    }

    /// Opens a sealed value of `owner`.
    public func open(_ sealed: String, for owner: String) throws -> String {
        guard Self.isSealed(sealed) else { throw SecretBoxError("the stored secret of \(owner) is not sealed") }
        let parts = sealed.dropFirst(Self.prefix.count).split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let combined = Data(base64Encoded: String(parts[1])) else {
            throw SecretBoxError("the stored secret of \(owner) is damaged")
        }
        guard parts[0] == keyId else {
            throw SecretBoxError(
                "the stored secret of \(owner) was sealed with key \(parts[0]), but this server has key \(keyId): "
                    + "start slipwayd with the key it was sealed with (SLIPWAY_SECRET_KEY or --secret-key-file), or set the secret again")
        }
        do {
            let plaintext = try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key, authenticating: Data(owner.utf8))
            return String(decoding: plaintext, as: UTF8.self)
        } catch {
            throw SecretBoxError("the stored secret of \(owner) does not open with this server's key \(keyId): it was altered or moved")
        }
    }

    private static func identify(_ key: SymmetricKey) -> String {
        let digest = key.withUnsafeBytes { SHA256.hash(data: Data($0)) }
        return String(digest.hexString.prefix(8))
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}

/// A secret that cannot be sealed or opened; the message says why.
public struct SecretBoxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
