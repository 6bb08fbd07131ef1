import Foundation
import X509

/// The checks a registry would make, and the size bounds of every field. Each failure names the field and the rule.
public enum Validate {
    /// Bounds on sizes, in UTF-8 bytes (or items for lists): a count of characters would let one letter carry
    /// any number of combining marks.
    public enum Limit {
        public static let name = 100
        public static let description = 1024
        public static let imageName = 255
        public static let pem = 16 * 1024
        public static let listItems = 64
        public static let listItem = 4096
        public static let email = 254
        public static let password = 1024
        public static let host = 255
        public static let credential = 4096
        public static let releaseNotes = 16 * 1024
    }

    // OCI distribution grammar: path-component ::= [a-z0-9]+ (separator [a-z0-9]+)*, separator ::= [_.] | __ | [-]+
    nonisolated(unsafe) private static let pathComponent = /[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*/
    nonisolated(unsafe) private static let tag = /[A-Za-z0-9_][A-Za-z0-9._-]{0,127}/
    nonisolated(unsafe) private static let hostPattern = /[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?/
    nonisolated(unsafe) private static let emailPattern = /[^\s@]+@[^\s@]+/
    nonisolated(unsafe) private static let labelKey = /[A-Za-z0-9](?:[A-Za-z0-9._\/-]{0,61}[A-Za-z0-9])?/
    nonisolated(unsafe) private static let labelValue = /(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?/
    nonisolated(unsafe) private static let idSuffix = /[0-9A-Za-z]{1,64}/

    /// The most labels one instance may carry.
    public static let maxLabels = 32

    /// An image name: `/`-separated path components of the OCI distribution grammar, at most 255 bytes.
    public static func imageName(_ value: String, field: String = "imageName") throws {
        guard !value.isEmpty else { throw SlipwayError.badRequest("\(field) must not be empty") }
        try size(value, field: field, limit: Limit.imageName)
        for component in value.split(separator: "/", omittingEmptySubsequences: false) {
            guard (try? pathComponent.wholeMatch(in: component)) != nil else {
                throw SlipwayError.badRequest(
                    "\(field) '\(value.prefix(utf8Bytes: 80))' is not a valid image name: each '/'-separated part must be lowercase letters and digits, "
                        + "joined by '.', '_', '__' or dashes (e.g. 'mysql' or 'acme/api-server')")
            }
        }
    }

    /// An image tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
    public static func imageTag(_ value: String, field: String = "imageTag") throws {
        guard (try? tag.wholeMatch(in: value)) != nil else {
            throw SlipwayError.badRequest(
                "\(field) '\(value.prefix(utf8Bytes: 80))' is not a valid tag: use 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
        }
    }

    /// A PEM public key: EC P-256/P-384/P-521, Ed25519 or RSA, in a `PUBLIC KEY` block.
    public static func publicKeyPEM(_ value: String, field: String = "imageSignaturePublicKeyPEM") throws {
        guard value.utf8.count <= Limit.pem else {
            throw SlipwayError.badRequest("\(field) must be at most \(Limit.pem) bytes, got \(value.utf8.count)")
        }
        do {
            _ = try Certificate.PublicKey(pemEncoded: value)
        } catch {
            throw SlipwayError.badRequest(
                "\(field) does not parse as a PEM public key: expected a '-----BEGIN PUBLIC KEY-----' block holding an EC P-256/P-384, Ed25519 or RSA key"
            )
        }
    }

    /// At most `limit` bytes of UTF-8.
    public static func size(_ value: String, field: String, limit: Int) throws {
        let bytes = value.utf8.count
        guard bytes <= limit else { throw SlipwayError.badRequest("\(field) must be at most \(limit) bytes, got \(bytes)") }
    }

    /// Free text such as a description: at most `limit` bytes, no control characters but newlines and tabs.
    public static func text(_ value: String, field: String, limit: Int = Limit.description) throws {
        try size(value, field: field, limit: limit)
        guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" && $0 != "\t" && $0 != "\r" })
        else { throw SlipwayError.badRequest("\(field) must not contain control characters") }
    }

    /// A name: 1 to 100 bytes, not blank, no control characters.
    public static func name(_ value: String, field: String = "name") throws {
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty else { throw SlipwayError.badRequest("\(field) must not be empty") }
        try text(value, field: field, limit: Limit.name)
        guard !value.contains("\n") && !value.contains("\t") && !value.contains("\r") else {
            throw SlipwayError.badRequest("\(field) must be a single line")
        }
    }

    /// A list of strings such as container commands: at most 64 items of at most 4096 bytes.
    public static func list(_ values: [String], field: String) throws {
        guard values.count <= Limit.listItems else {
            throw SlipwayError.badRequest("\(field) must have at most \(Limit.listItems) items, got \(values.count)")
        }
        for (index, value) in values.enumerated() {
            try text(value, field: "\(field)[\(index)]", limit: Limit.listItem)
        }
    }

    /// An email address, compared case-insensitively: `local@domain` without spaces or control characters
    /// (a user's name defaults to the email's local part, which must then be a name).
    public static func email(_ value: String, field: String = "email") throws {
        guard value.utf8.count <= Limit.email, (try? emailPattern.wholeMatch(in: value)) != nil,
            !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw SlipwayError.badRequest("\(field) must be an email address such as 'ops@example.com'")
        }
    }

    /// A new password: at least 8 characters, at most 1024 bytes.
    public static func newPassword(_ value: String, field: String = "password") throws {
        guard value.count >= 8 else { throw SlipwayError.badRequest("\(field) must be at least 8 characters") }
        try size(value, field: field, limit: Limit.password)
    }

    /// A registry host with an optional port, e.g. `ghcr.io` or `127.0.0.1:5000`.
    public static func registryHost(_ value: String, field: String = "host") throws {
        guard value.utf8.count <= Limit.host, (try? hostPattern.wholeMatch(in: value)) != nil else {
            throw SlipwayError.badRequest("\(field) must be a registry host with an optional port, such as 'ghcr.io' or '127.0.0.1:5000'")
        }
        if let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]), !(1...65535).contains(port) {
            throw SlipwayError.badRequest("\(field) has port \(port), outside 1 to 65535")
        }
    }

    /// Instance labels such as `{"region": "eu"}`: at most 32; keys of 1 to 63 letters, digits, '-', '_', '.' or '/',
    /// values of at most 63 letters, digits, '-', '_' or '.', each starting and ending with a letter or digit.
    public static func labels(_ labels: [String: String], field: String = "labels") throws {
        guard labels.count <= maxLabels else { throw SlipwayError.badRequest("\(field) must have at most \(maxLabels) labels, got \(labels.count)") }
        for key in labels.keys.sorted() {
            guard (try? labelKey.wholeMatch(in: key)) != nil else {
                throw SlipwayError.badRequest(
                    "\(field) key '\(key.prefix(utf8Bytes: 80))' is not valid: use 1 to 63 letters, digits, '-', '_', '.' or '/', "
                        + "starting and ending with a letter or digit")
            }
            let value = labels[key]!
            guard (try? labelValue.wholeMatch(in: value)) != nil else {
                throw SlipwayError.badRequest(
                    "\(field) value '\(value.prefix(utf8Bytes: 80))' of '\(key)' is not valid: use at most 63 letters, digits, '-', '_' or '.', "
                        + "starting and ending with a letter or digit")
            }
        }
    }

    /// A resource id of `kind`, such as `inst-3f9aK2mQx7Lp`.
    public static func identifier(_ value: String, field: String, kind: ResourceKind) throws {
        let prefix = kind.prefix + "-"
        guard value.hasPrefix(prefix), (try? idSuffix.wholeMatch(in: value.dropFirst(prefix.count))) != nil else {
            throw SlipwayError.badRequest("\(field) holds '\(value.prefix(utf8Bytes: 80))', which is not a valid \(kind.displayName) id such as '\(prefix)3f9aK2mQx7Lp'")
        }
    }

    /// An environment type.
    public static func environmentType(_ value: String, field: String = "type") throws -> EnvironmentType {
        guard let type = EnvironmentType(rawValue: value.lowercased()) else {
            throw SlipwayError.badRequest(
                "\(field) must be one of \(EnvironmentType.allCases.map(\.rawValue).joined(separator: ", ")), got '\(value.prefix(utf8Bytes: 40))'")
        }
        return type
    }

    /// A role.
    public static func role(_ value: String, field: String = "role") throws -> Role {
        guard let role = Role(rawValue: value.lowercased()) else {
            throw SlipwayError.badRequest("\(field) must be one of admin, editor, viewer, got '\(value.prefix(utf8Bytes: 40))'")
        }
        return role
    }
}

extension StringProtocol {
    /// The longest prefix of whole Unicode scalars that fits in `limit` bytes of UTF-8: for keeping or echoing
    /// caller text within a size (a prefix of characters is unbounded, a character may carry any number of marks).
    public func prefix(utf8Bytes limit: Int) -> String {
        var kept = String.UnicodeScalarView()
        var bytes = 0
        for scalar in unicodeScalars {
            bytes += UTF8.width(scalar)
            guard bytes <= limit else { break }
            kept.append(scalar)
        }
        return String(kept)
    }
}
