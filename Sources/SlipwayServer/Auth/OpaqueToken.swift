import Crypto
import Hummingbird
import Foundation
import SlipwayCore

/// Opaque secrets handed out once (refresh tokens `rt-…`, agent tokens `sat-…`) and stored only as a SHA-256 hash.
enum OpaqueToken {
    /// A new token with the given prefix, and the hash under which it is stored.
    static func new(prefix: String) -> (token: String, hash: String) {
        let token = "\(prefix)-" + Identifiers.random(length: 43)
        return (token, hash(token))
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).hexString
    }
}

/// What a request's `Authorization` header holds.
enum BearerHeader {
    case missing
    case malformed
    case token(String)
}

extension Request {
    /// The bearer token of `Authorization: Bearer <token>`, surrounding blanks dropped.
    var bearer: BearerHeader {
        guard let header = headers[.authorization] else { return .missing }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .malformed }
        let token = parts[1].trimmed(of: [" ", "\t"])
        return token.isEmpty ? .malformed : .token(String(token))
    }
}
