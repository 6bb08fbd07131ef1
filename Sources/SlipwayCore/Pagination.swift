import Foundation

/// Which page of a list to read: at most `size` items after the opaque cursor of the previous page.
public struct PageRequest: Sendable, Equatable {
    public var size: Int
    /// The position of the last item of the previous page; nil for the first page.
    public var after: Int64?

    public init(size: Int, after: Int64? = nil) {
        self.size = size
        self.after = after
    }

    /// Reads the `pageSize` and `nextPageToken` query parameters; an empty value counts as absent.
    public static func parse(pageSize: String?, nextPageToken: String?, defaultSize: Int = 100, maxSize: Int = 1000) throws -> PageRequest {
        var size = defaultSize
        if let pageSize, !pageSize.isEmpty {
            guard let value = Int(pageSize), (1...maxSize).contains(value) else {
                throw SlipwayError.badRequest("pageSize must be an integer from 1 to \(maxSize), got '\(pageSize.prefix(utf8Bytes: 40))'")
            }
            size = value
        }
        var after: Int64?
        if let nextPageToken, !nextPageToken.isEmpty {
            after = try PageToken.decode(nextPageToken)
        }
        return PageRequest(size: size, after: after)
    }
}

/// One page of a list, with the cursor of its last item when more may follow.
public struct Page<Item> {
    public var items: [Item]
    public var nextCursor: Int64?

    public init(items: [Item], nextCursor: Int64?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    /// The `nextPageToken` to hand out, or nil on the last page.
    public var nextPageToken: String? { nextCursor.map(PageToken.encode) }

    public func map<T>(_ transform: (Item) throws -> T) rethrows -> Page<T> {
        Page<T>(items: try items.map(transform), nextCursor: nextCursor)
    }
}

/// Opaque page tokens: a versioned cursor, base64url-encoded so clients treat it as a blob.
///
/// A token is `c1:` and 1 to 18 decimal digits, base64url-encoded without padding; `pattern` is that
/// format exactly (canonical base64 only), as the API document states it for `nextPageToken`.
public enum PageToken {
    /// The token format as a regular expression (ECMA-262 and Swift alike), without anchors.
    public static let pattern =
        "YzE6(?:(?:\(group)){0,5}(?:\(oneDigit)|\(twoDigits))|(?:\(group)){1,6})"
    // base64 of three ASCII digits, of one digit and of two digits (the last character's unused bits zero).
    private static let group = "(?:M[DTjz]|N[DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]"
    private static let oneDigit = "(?:M[AQgw]|N[AQgw]|O[AQ])"
    private static let twoDigits = "(?:M[DTjz]|N[DTjz]|O[DT])[AEIMQUYcgk]"
    nonisolated(unsafe) private static let format = try! Regex(pattern)

    public static func encode(_ cursor: Int64) -> String {
        Data("c1:\(cursor)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ token: String) throws -> Int64 {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard token.utf8.count <= 64, (try? format.wholeMatch(in: token)) != nil, let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
            text.hasPrefix("c1:"), let cursor = Int64(text.dropFirst(3)), cursor >= 0
        else {
            throw SlipwayError.badRequest("nextPageToken is not valid: pass the nextPageToken of the previous response unchanged")
        }
        return cursor
    }
}

extension Page: Sendable where Item: Sendable {}
