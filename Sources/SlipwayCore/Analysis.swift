import Foundation

/// Evidence a rollout waits for and halts on: an HTTP check or a Prometheus query, measured while the rollout
/// runs (every `intervalSeconds`, its bakes included) and once more after each wave before the next starts.
/// When `failureLimit` measurements have failed, no instance starts any more and the rollout halts as FAILED
/// once nothing is in flight (rolling back with `autoRollback`), the last measurement in its message.
public struct RolloutAnalysis: Sendable, Equatable, Codable {
    /// An HTTP GET that must answer `expectedStatus` (and, with `jsonPath`, a body whose value there meets `successCondition`).
    public var url: String?
    public var expectedStatus: Int
    public var jsonPath: String?
    /// A Prometheus server (`http://prometheus:9090`) and an instant query whose first sample must meet `successCondition`.
    public var prometheusUrl: String?
    public var query: String?
    /// `result < 0.01`, `result == "ok"`: `result` is the measured value.
    public var successCondition: String?
    public var intervalSeconds: Int
    public var failureLimit: Int

    public init(
        url: String? = nil, expectedStatus: Int = 200, jsonPath: String? = nil, prometheusUrl: String? = nil, query: String? = nil,
        successCondition: String? = nil, intervalSeconds: Int = 30, failureLimit: Int = 1
    ) {
        self.url = url
        self.expectedStatus = expectedStatus
        self.jsonPath = jsonPath
        self.prometheusUrl = prometheusUrl
        self.query = query
        self.successCondition = successCondition
        self.intervalSeconds = intervalSeconds
        self.failureLimit = failureLimit
    }

    /// Checks the fields: one source, the condition the source needs, the bounds.
    public func validate() throws {
        switch (url, prometheusUrl) {
        case (nil, nil), (.some, .some):
            throw SlipwayError.badRequest("analysis must give either url (an HTTP check) or prometheusUrl and query (a Prometheus query)")
        case (.some(let url), nil):
            try Self.checkURL(url, field: "analysis.url")
            guard (100...599).contains(expectedStatus) else {
                throw SlipwayError.badRequest("analysis.expectedStatus must be from 100 to 599, got \(expectedStatus)")
            }
            if let jsonPath {
                _ = try JSONPath(jsonPath)
                guard successCondition != nil else {
                    throw SlipwayError.badRequest("analysis.jsonPath needs a successCondition such as result == \"ok\" or result < 0.01")
                }
            }
        case (nil, .some(let prometheusUrl)):
            try Self.checkURL(prometheusUrl, field: "analysis.prometheusUrl")
            guard let query, !query.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw SlipwayError.badRequest("analysis.query must be a PromQL query, such as sum(rate(http_errors_total[5m]))")
            }
            try Validate.size(query, field: "analysis.query", limit: 4096)
            guard successCondition != nil else {
                throw SlipwayError.badRequest("analysis.successCondition must say what a good result is, such as result < 0.01")
            }
        }
        if let successCondition { _ = try SuccessCondition(successCondition) }
        guard (5...3600).contains(intervalSeconds) else {
            throw SlipwayError.badRequest("analysis.intervalSeconds must be from 5 to 3600, got \(intervalSeconds)")
        }
        guard (1...100).contains(failureLimit) else {
            throw SlipwayError.badRequest("analysis.failureLimit must be from 1 to 100, got \(failureLimit)")
        }
    }

    static func checkURL(_ url: String, field: String) throws {
        guard url.utf8.count <= 2048, let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme), components.host?.isEmpty == false
        else {
            throw SlipwayError.badRequest("\(field) must be an http or https URL, got '\(url.prefix(utf8Bytes: 100))'")
        }
    }

    /// What a measurement of the source says, given what it answered: `status` and `body` for the HTTP check,
    /// the query's JSON answer for Prometheus.
    public func judge(status: Int, body: Data) -> (passed: Bool, text: String) {
        if let url {
            let answered = "GET \(url) answered \(status)"
            guard status == expectedStatus else { return (false, "\(answered), expected \(expectedStatus)") }
            guard let jsonPath, let condition = try? SuccessCondition(successCondition ?? "") else { return (true, answered) }
            guard let path = try? JSONPath(jsonPath), let value = path.value(in: body) else {
                return (false, "\(answered) without a value at \(jsonPath)")
            }
            let passed = condition.holds(for: value)
            return (passed, "\(answered): \(jsonPath) = \(value.text), \(passed ? "meets" : "expected") \(condition.text)")
        }
        let source = "the Prometheus query \(query ?? "")"
        guard status == 200 else { return (false, "\(source) answered \(status)") }
        guard let value = Self.firstSample(body) else { return (false, "\(source) returned no sample") }
        guard let condition = try? SuccessCondition(successCondition ?? "") else { return (false, "no successCondition") }
        let passed = condition.holds(for: value)
        return (passed, "\(source): result = \(value.text), \(passed ? "meets" : "expected") \(condition.text)")
    }

    /// The first sample of a Prometheus instant query's answer: a vector's first value, or a scalar.
    static func firstSample(_ body: Data) -> MeasuredValue? {
        guard let answer = try? JSONDecoder().decode(JSONValue.self, from: body), answer["status"] == .string("success"),
            let data = answer["data"]
        else { return nil }
        let pair: JSONValue?
        switch data["resultType"] {
        case .string("vector"): pair = data["result"]?[0]?["value"]
        case .string("matrix"): pair = data["result"]?[0]?["values"]?.last
        case .string("scalar"), .string("string"): pair = data["result"]
        default: pair = nil
        }
        guard case .string(let text) = pair?.last else { return nil }
        return Double(text).map(MeasuredValue.number) ?? .text(text)
    }
}

/// A value a measurement found.
public enum MeasuredValue: Sendable, Equatable {
    case number(Double)
    case text(String)
    case bool(Bool)

    var text: String {
        switch self {
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .text(let value): "\"\(value)\""
        case .bool(let value): String(value)
        }
    }
}

/// `result <op> <literal>`: op one of `<`, `<=`, `>`, `>=`, `==`, `!=`; the literal a number, `true`/`false`, or a
/// string (quoted, or bare).
public struct SuccessCondition: Sendable, Equatable {
    public var op: String
    public var literal: MeasuredValue
    public let text: String

    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let fail = SlipwayError.badRequest(
            "analysis.successCondition must be 'result <op> <value>' with <, <=, >, >=, == or !=, such as result < 0.01; got '\(text.prefix(utf8Bytes: 100))'")
        guard trimmed.hasPrefix("result") else { throw fail }
        var rest = trimmed.dropFirst("result".count).trimmingCharacters(in: .whitespaces)
        guard let op = ["<=", ">=", "==", "!=", "<", ">"].first(where: { rest.hasPrefix($0) }) else { throw fail }
        rest = rest.dropFirst(op.count).trimmingCharacters(in: .whitespaces)
        guard !rest.isEmpty else { throw fail }
        if let number = Double(rest) {
            literal = .number(number)
        } else if rest == "true" || rest == "false" {
            literal = .bool(rest == "true")
        } else if rest.count >= 2, rest.hasPrefix("\""), rest.hasSuffix("\"") {
            literal = .text(String(rest.dropFirst().dropLast()))
        } else {
            literal = .text(rest)
        }
        if case .number = literal {} else if !["==", "!="].contains(op) { throw fail }
        self.op = op
        self.text = trimmed
    }

    /// Whether `value` meets the condition; a number compared with text (or the reverse) does not.
    public func holds(for value: MeasuredValue) -> Bool {
        switch (value, literal) {
        case (.number(let left), .number(let right)):
            switch op {
            case "<": return left < right
            case "<=": return left <= right
            case ">": return left > right
            case ">=": return left >= right
            case "==": return left == right
            default: return left != right
            }
        case (.text(let left), .number):
            // A number sent as text (as Prometheus does) compares as the number.
            guard let number = Double(left) else { return false }
            return holds(for: .number(number))
        default:
            return op == "==" ? value == literal : op == "!=" ? value != literal : false
        }
    }
}

/// A JSON path of the simple kind: `$`, then `.name` or `[index]` steps, such as `$.checks[0].status`.
public struct JSONPath: Sendable, Equatable {
    enum Step: Equatable, Sendable {
        case key(String)
        case index(Int)
    }

    let steps: [Step]

    public init(_ text: String) throws {
        let fail = SlipwayError.badRequest(
            "analysis.jsonPath must be $ followed by .name or [index] steps, such as $.checks[0].status; got '\(text.prefix(utf8Bytes: 100))'")
        guard text.hasPrefix("$"), text.utf8.count <= 512 else { throw fail }
        var steps: [Step] = []
        var rest = Substring(text.dropFirst())
        while !rest.isEmpty {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let name = rest.prefix { $0 != "." && $0 != "[" }
                guard !name.isEmpty else { throw fail }
                steps.append(.key(String(name)))
                rest = rest.dropFirst(name.count)
            } else if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]"), let index = Int(rest[rest.index(after: rest.startIndex)..<close]), index >= 0 else {
                    throw fail
                }
                steps.append(.index(index))
                rest = rest[rest.index(after: close)...]
            } else {
                throw fail
            }
        }
        self.steps = steps
    }

    /// The value at this path in a JSON document, if it is a number, a string or a boolean.
    public func value(in body: Data) -> MeasuredValue? {
        guard var node = try? JSONDecoder().decode(JSONValue.self, from: body) else { return nil }
        for step in steps {
            switch step {
            case .key(let key): guard let next = node[key] else { return nil }; node = next
            case .index(let index): guard let next = node[index] else { return nil }; node = next
            }
        }
        switch node {
        case .number(let value): return .number(value)
        case .string(let value): return .text(value)
        case .bool(let value): return .bool(value)
        case .null, .array, .object: return nil
        }
    }
}

/// Any JSON value, for reading a measurement's answer.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    subscript(index: Int) -> JSONValue? {
        if case .array(let array) = self, index < array.count { return array[index] }
        return nil
    }

    var last: JSONValue? {
        if case .array(let array) = self { return array.last }
        return nil
    }
}
