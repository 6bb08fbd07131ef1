/// The error body of every failed call: the goa error that the upstream contract names
/// `application/vnd.goa.error`, sent as `application/json` so that the Go SDK decodes it.
public struct GoaError: Codable, Sendable, Equatable, Error {
    /// The class of error: `bad_request`, `auth_failure`, `forbidden`, `not_found`, `invalid_state`, `failed_request`.
    public var name: String
    /// Unique per occurrence; the server logs it on the line for the request.
    public var id: String
    /// What was wrong and how to fix it.
    public var message: String
    /// Whether the error is temporary, so that trying again later may succeed.
    public var temporary: Bool
    /// Whether the error is a timeout.
    public var timeout: Bool
    /// True when the server, not the caller, is at fault.
    public var fault: Bool

    /// Creates an error body; the flags default to false.
    public init(name: String, id: String, message: String, temporary: Bool = false, timeout: Bool = false, fault: Bool = false) {
        self.name = name
        self.id = id
        self.message = message
        self.temporary = temporary
        self.timeout = timeout
        self.fault = fault
    }
}
