import Crypto
import Foundation
import Hummingbird
import NIOCore
import SlipwayCore

/// Reading JSON request bodies and writing JSON responses, with the messages a caller can act on.
public enum JSONBody {
    /// The largest request body accepted: 1 MiB.
    public static let maxSize = 1 << 20

    /// Decodes the body as `T`. An empty body decodes as `{}` when `emptyAsObject` (Release without a tier may send none).
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, emptyAsObject: Bool = false) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxSize)
        } catch is NIOTooManyBytesError {
            throw SlipwayError.badRequest("request body is larger than the limit of \(maxSize) bytes (1 MiB)")
        }
        var data = Data(buffer: buffer)
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard emptyAsObject else { throw SlipwayError.badRequest("request body is missing: send a JSON object") }
            data = Data("{}".utf8)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw SlipwayError.badRequest(message(for: error))
        }
    }

    /// A caller-facing description of a decoding failure, naming the field.
    static func message(for error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            let keys = codingPath + (key.map { [$0] } ?? [])
            let joined = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return joined.hasPrefix(".") ? String(joined.dropFirst()) : joined
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "field '\(path(context.codingPath, key))' is required"
        case .typeMismatch(let type, let context):
            return context.codingPath.isEmpty
                ? "request body must be a JSON object"
                : "field '\(path(context.codingPath))' must be \(describe(type))"
        case .valueNotFound(let type, let context):
            return context.codingPath.isEmpty
                ? "request body must be a JSON object"
                : "field '\(path(context.codingPath))' must be \(describe(type)), not null"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "request body is not valid JSON" }
            return "field '\(path(context.codingPath))' has an invalid value"
        @unknown default:
            return "request body could not be decoded"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Double.Type: "a number"
        case is [String].Type: "an array of strings"
        case is Array<Any>.Type: "an array"
        default: "an object"
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// Keys in a fixed order, so that the same value always has the same bytes (and the same ETag).
    static let stableEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    /// A 200 response with `value` as JSON.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        response(bytes: ByteBuffer(bytes: try encoder.encode(value)), status: status)
    }

    /// A response with JSON already encoded.
    static func response(bytes: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: bytes))
    }

    /// A 200 response with an ETag over its bytes, or 304 with no body when `If-None-Match` names that
    /// ETag: a client that polls (the web console) is told "unchanged" instead of sent the same body again.
    static func conditionalResponse(_ value: some Encodable, to request: Request) throws -> Response {
        let bytes = try stableEncoder.encode(value)
        let etag = "\"" + SHA256.hash(data: bytes).hexString.prefix(24) + "\""
        let asked = request.headers[.ifNoneMatch]?.split(separator: ",").map { $0.trimmed(of: [" "]).replacing("W/", with: "") } ?? []
        if asked.contains(where: { $0 == etag || $0 == "*" }) {
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        var response = response(bytes: ByteBuffer(bytes: bytes))
        response.headers[.eTag] = etag
        return response
    }

    /// A 200 response with an empty body, as Update, Delete and Release answer.
    static func empty() -> Response {
        Response(status: .ok)
    }
}
