import Crypto
import CryptoExtras
import Foundation

/// Slow, salted password hashes (PBKDF2-HMAC-SHA256).
///
/// The hash is taken over the hex SHA-256 of the password, so that a sign-in with the deprecated
/// `hashedPassword` field (which carries exactly that hex digest) verifies against the same record.
/// Stored as `pbkdf2-sha256$<rounds>$<salt base64>$<hash base64>`.
public struct PasswordHasher: Sendable {
    public var rounds: Int

    public init(rounds: Int = 210_000) {
        self.rounds = rounds
    }

    /// The hex SHA-256 of a password: what `hashedPassword` carries.
    public static func sha256Hex(_ password: String) -> String {
        SHA256.hash(data: Data(password.utf8)).hexString
    }

    /// A new hash record for a password.
    public func hash(password: String) throws -> String {
        let salt = Identifiers.randomBytes(16)
        let derived = try derive(Self.sha256Hex(password), salt: salt, rounds: rounds)
        return "pbkdf2-sha256$\(rounds)$\(Data(salt).base64EncodedString())$\(Data(derived).base64EncodedString())"
    }

    /// Whether a plain password matches a stored record.
    public func verify(password: String, against record: String) -> Bool {
        verify(sha256Hex: Self.sha256Hex(password), against: record)
    }

    /// Whether the hex SHA-256 of a password (the deprecated `hashedPassword`) matches a stored record.
    public func verify(sha256Hex: String, against record: String) -> Bool {
        let parts = record.split(separator: "$")
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]), rounds >= 210_000,
            let salt = Data(base64Encoded: String(parts[2])), let expected = Data(base64Encoded: String(parts[3])),
            let derived = try? derive(sha256Hex.lowercased(), salt: Array(salt), rounds: rounds)
        else { return false }
        return constantTimeEquals(Array(expected), derived)
    }

    private func derive(_ secret: String, salt: [UInt8], rounds: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(secret.utf8), salt: salt, using: .sha256, outputByteCount: 32, rounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }

    private func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
