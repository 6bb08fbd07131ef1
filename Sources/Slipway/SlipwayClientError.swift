import Foundation
import SlipwayWire

/// Every failure of a Slipway call: an error the server answered (with its goa fields), or a transport failure.
public struct SlipwayClientError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// The server answered with an error body.
        case api
        /// The request never got an answer: connection refused, reset, timed out.
        case transport
        /// The server answered something this client cannot read.
        case invalidResponse
    }

    /// Whether the server answered an error, the call never got an answer, or the answer was unreadable.
    public var kind: Kind
    /// The HTTP status, when the server answered.
    public var status: Int?
    /// The goa error class: `bad_request`, `auth_failure`, `forbidden`, `not_found`, `invalid_state`, `failed_request`.
    public var name: String
    /// The server's id of this occurrence, to quote to the operator.
    public var id: String?
    /// A human-readable explanation of what went wrong.
    public var message: String
    /// Whether the failure is temporary, so that trying again later may succeed.
    public var temporary: Bool
    /// Whether the failure is a timeout, on the server or of the request itself.
    public var timeout: Bool
    /// True when the server, not the caller, is at fault; false for transport and unreadable answers.
    public var fault: Bool

    init(status: Int, error: GoaError) {
        kind = .api
        self.status = status
        name = error.name
        id = error.id
        message = error.message
        temporary = error.temporary
        timeout = error.timeout
        fault = error.fault
    }

    init(kind: Kind, status: Int? = nil, message: String, temporary: Bool = false, timeout: Bool = false) {
        self.kind = kind
        self.status = status
        name = kind == .transport ? "transport" : "invalid_response"
        id = nil
        self.message = message
        self.temporary = temporary
        self.timeout = timeout
        fault = false
    }

    /// A one-line summary for logs and messages.
    public var description: String {
        switch kind {
        case .api: "\(name) (\(status ?? 0)): \(message)" + (id.map { " [error id \($0)]" } ?? "")
        case .transport: "cannot reach the server: \(message)"
        case .invalidResponse: "unexpected answer\(status.map { " (\($0))" } ?? ""): \(message)"
        }
    }

    /// Whether repeating the same idempotent call may succeed.
    public var isRetryable: Bool { kind == .transport || temporary || timeout }
}
