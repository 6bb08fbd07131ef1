/// One challenge of a `WWW-Authenticate` header: `Basic realm="…"` or
/// `Bearer realm="…",service="…",scope="repository:a/b:pull,push"`.
public struct AuthChallenge: Sendable, Equatable {
    /// The scheme, lowercased (`basic`, `bearer`).
    public var scheme: String
    /// The parameters, names lowercased, values unquoted.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String] = [:]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    /// Parses every challenge of a `WWW-Authenticate` value (RFC 9110 §11.6.1): quoted values may
    /// hold commas and escaped quotes; several challenges may share one header line.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var scanner = Scanner(Array(header.utf8))
        var challenges: [AuthChallenge] = []
        while true {
            scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
            guard let scheme = scanner.token(), !scheme.isEmpty else { break }
            var challenge = AuthChallenge(scheme: scheme)
            // Parameters: name=value pairs separated by commas, until the next scheme.
            while true {
                let mark = scanner.index
                scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
                guard let name = scanner.token(), !name.isEmpty else {
                    scanner.index = mark
                    break
                }
                scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                guard scanner.consume(UInt8(ascii: "=")) else {
                    // A token without "=" starts the next challenge.
                    scanner.index = mark
                    break
                }
                scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                let value = scanner.peek == UInt8(ascii: "\"") ? scanner.quoted() : (scanner.token() ?? "")
                challenge.parameters[name.lowercased()] = value
            }
            challenges.append(challenge)
            if scanner.isAtEnd { break }
        }
        return challenges
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var isAtEnd: Bool { index >= bytes.count }
        var peek: UInt8? { isAtEnd ? nil : bytes[index] }

        mutating func skip(while predicate: (UInt8) -> Bool) {
            while let c = peek, predicate(c) { index += 1 }
        }

        mutating func consume(_ c: UInt8) -> Bool {
            guard peek == c else { return false }
            index += 1
            return true
        }

        /// An RFC 9110 token (also accepts the `/` and `:` that some registries leave unquoted).
        mutating func token() -> String? {
            let start = index
            while let c = peek, Self.isTokenChar(c) { index += 1 }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }

        mutating func quoted() -> String {
            index += 1  // opening quote
            var out: [UInt8] = []
            while let c = peek {
                index += 1
                if c == UInt8(ascii: "\\"), let next = peek {
                    out.append(next)
                    index += 1
                } else if c == UInt8(ascii: "\"") {
                    break
                } else {
                    out.append(c)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }

        static func isTokenChar(_ c: UInt8) -> Bool {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~/:".utf8.contains(c)
            }
        }
    }
}
