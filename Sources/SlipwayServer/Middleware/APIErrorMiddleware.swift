import Foundation
import Hummingbird
import Logging
import SlipwayCore
import SlipwayWire

/// Turns every failure into the goa error body, in this one place, and writes one log line per request
/// (at debug for a 304, the answer to a poll that found nothing new).
///
/// Errors go out as `application/json` (the Go SDK decodes errors only from a JSON content type),
/// whatever the `Accept` header says. Each carries a fresh `id` that the log line repeats, so an
/// operator can find the cause of a caller's error; server faults log the underlying error, callers
/// never see it.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            finished(request, context, status: response.status, since: start)
            return response
        } catch {
            let (status, body, cause) = Self.goaError(for: error, request: request)
            finished(request, context, status: status, since: start, error: body, cause: cause)
            let data = (try? JSONBody.encoder.encode(body)) ?? Data()
            var headers: HTTPFields = [.contentType: "application/json"]
            if let retryAfter = ((error as? IdentifiedError)?.underlying as? SlipwayError ?? error as? SlipwayError)?.retryAfter {
                headers[.retryAfter] = String(retryAfter)
            }
            if let refused = error as? MethodNotAllowed { headers[.allow] = refused.allowHeader }
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    /// The request's log line and metrics.
    private func finished(
        _ request: Request, _ context: Context, status: HTTPResponse.Status, since start: ContinuousClock.Instant, error: GoaError? = nil,
        cause: String? = nil
    ) {
        let elapsed = ContinuousClock.now - start
        metrics.recordRequest(method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: Int(status.code), duration: elapsed)
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)", "path": "\(Self.oneLine(request.uri.path))", "status": "\(status.code)",
            "ms": "\(((Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000) * 100).rounded() / 100)",
        ]
        if let error {
            metadata["error_id"] = "\(error.id)"
            metadata["error"] = "\(error.name)"
            metadata["message"] = "\(Self.oneLine(error.message))"
        }
        if let cause { metadata["cause"] = "\(Self.oneLine(cause))" }
        // An answer of "unchanged" (an agent's long-poll that timed out, a console poll) is routine: 10,000 agents
        // make 333 a second. It is logged at debug.
        let level: Logger.Level = status.code >= 500 ? .error : status == .notModified ? .debug : .info
        logger.log(level: level, "request", metadata: metadata)
    }

    /// Text from a caller made safe for a log line: control characters escaped, so nobody can forge lines.
    static func oneLine(_ text: String) -> String {
        // Most text is printable ASCII, which needs nothing escaped (and no Unicode property lookups).
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                result += scalar.escaped(asASCII: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// The status, body and (for server faults) the hidden cause of an error.
    static func goaError(for error: any Error, request: Request) -> (HTTPResponse.Status, GoaError, String?) {
        if let identified = error as? IdentifiedError { return goaError(for: identified.underlying, request: request, id: identified.id) }
        return goaError(for: error, request: request, id: Identifiers.random(length: 10))
    }

    private static func goaError(for error: any Error, request: Request, id: String) -> (HTTPResponse.Status, GoaError, String?) {
        switch error {
        case let error as MethodNotAllowed:
            let path = oneLine(request.uri.path)
            let message = "no operation \(request.method.rawValue) \(path); \(path) answers \(error.allowHeader) (the API is described at /openapi.yaml)"
            return goaError(for: SlipwayError(.methodNotAllowed, message), request: request, id: id)
        case let error as SlipwayError:
            return (
                status(of: error.kind),
                GoaError(
                    name: error.kind.rawValue, id: id, message: error.message, temporary: error.isTemporary,
                    fault: error.kind == .failedRequest || error.kind == .unavailable),
                nil
            )
        case let error as any HTTPResponseError:
            let detail = (error as? HTTPError)?.body
            switch error.status {
            case .notFound:
                return (.notFound, GoaError(name: "not_found", id: id, message: "no operation \(request.method.rawValue) \(request.uri.path); the API is described at /openapi.yaml"), nil)
            case .contentTooLarge:
                return (.badRequest, GoaError(name: "bad_request", id: id, message: "request body is larger than the limit of 1 MiB"), nil)
            case .unauthorized:
                return (.unauthorized, GoaError(name: "auth_failure", id: id, message: detail ?? "authentication failed"), nil)
            default:
                if error.status.code < 500 {
                    return (.badRequest, GoaError(name: "bad_request", id: id, message: detail ?? error.status.reasonPhrase), nil)
                }
                return (.internalServerError, GoaError(name: "failed_request", id: id, message: serverFault(id), fault: true), "\(error)")
            }
        default:
            return (.internalServerError, GoaError(name: "failed_request", id: id, message: serverFault(id), fault: true), "\(error)")
        }
    }

    private static func serverFault(_ id: String) -> String {
        "the server failed to complete the request; retry it, and if it fails again report error id \(id) to the operator"
    }

    static func status(of kind: SlipwayError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .authFailure: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .methodNotAllowed: .methodNotAllowed
        case .invalidState: .conflict
        case .failedRequest: .internalServerError
        case .unavailable: .serviceUnavailable
        case .tooManyRequests: .tooManyRequests
        }
    }
}
