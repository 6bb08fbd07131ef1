import Foundation
import Hummingbird
import ServiceLifecycle
import SlipwayCore
import SlipwayEngine
import SlipwayWire

/// The agent protocol: agents pull their desired state (long-poll with an ETag) and report results.
/// Authenticated by the instance's agent token, never by a user token.
struct AgentController {
    let fleet: any FleetStore
    let notifier: DesiredStateNotifier
    let engine: RolloutEngine
    let reports: ReportBatcher
    let metrics: ServerMetrics
    /// Whether agents must also present a client certificate from the agent CA (`--agent-ca`).
    let requireClientCertificate: Bool
    /// The longest long-poll an agent may ask for.
    static let maxWait = 60

    func addRoutes(to router: Router<SlipwayRequestContext>) {
        let agent = router.group("agent/v1")
        if requireClientCertificate { agent.add(middleware: AgentCertificateMiddleware()) }
        agent.get("desired-state") { request, _ in
            let tokenHash = try agentTokenHash(request)
            let session = try await agentSession(tokenHash)
            var wait = 0
            if let text = request.query("wait") {
                guard let seconds = Int(text), (0...Self.maxWait).contains(seconds) else {
                    throw SlipwayError.badRequest("wait must be a number of seconds from 0 to \(Self.maxWait), got '\(text.prefix(utf8Bytes: 20))'")
                }
                wait = seconds
            }
            let known = request.headers[.ifNoneMatch].map(Self.generation(fromETag:))
            var generation = session.desiredGeneration
            var notified = false
            if known == generation && wait > 0 {
                let mark = await notifier.mark(session.instanceId)
                // Read again after taking the mark, so a change in between is not missed.
                generation = try await agentSession(tokenHash).desiredGeneration
                if generation == known {
                    notified = await withGracefulShutdownHandler {
                        await notifier.wait(for: session.instanceId, after: mark, timeout: .seconds(wait))
                    } onGracefulShutdown: { [notifier] in
                        Task { await notifier.shutdown() }
                    }
                    // Woken by a change, the state itself is read next (it has the generation, and answers a
                    // deleted instance's agent); a timeout asks the directory, which answers from memory.
                    if !notified { generation = try await agentSession(tokenHash).desiredGeneration }
                }
            }
            if known == generation && !notified {
                return Response(status: .notModified, headers: [.eTag: Self.etag(generation)])
            }
            let state = try await fleet.desiredState(instanceId: session.instanceId)
            if state.generation == known {
                return Response(status: .notModified, headers: [.eTag: Self.etag(state.generation)])
            }
            var response = try JSONBody.response(DesiredStateResult(state))
            response.headers[.eTag] = Self.etag(state.generation)
            return response
        }
        agent.post("report") { request, _ in
            let session = try await agentSession(try agentTokenHash(request))
            let body = try await JSONBody.decode(AgentReportRequest.self, from: request)
            guard let status = AgentReportStatus(rawValue: body.status.uppercased()) else {
                throw SlipwayError.badRequest("status must be one of APPLYING, SUCCEEDED, FAILED, got '\(body.status.prefix(utf8Bytes: 40))'")
            }
            try Validate.name(body.tierVersion, field: "tierVersion")
            let report = AgentReport(
                tierVersion: body.tierVersion, status: status, message: body.message.map { $0.prefix(utf8Bytes: 4096) },
                health: body.health.map { $0.prefix(utf8Bytes: 1024) }, generation: body.generation)
            if try await reports.submit(instanceId: session.instanceId, report: report) != nil {
                engine.wake()
            }
            metrics.recordReport(status: status)
            return JSONBody.empty()
        }
    }

    private static let invalidToken = "the agent token is not valid, or its instance was deleted; register the instance for a new token"

    /// The SHA-256 of the request's agent token, computed once per request (a long-poll checks its session up to three times).
    private func agentTokenHash(_ request: Request) throws -> String {
        switch request.bearer {
        case .missing: throw SlipwayError.authFailure("missing Authorization header: agents send 'Authorization: Bearer <agentToken>'")
        case .malformed: throw SlipwayError.authFailure(Self.invalidToken)
        case .token(let token): return OpaqueToken.hash(token)
        }
    }

    private func agentSession(_ tokenHash: String) async throws -> AgentSession {
        guard let session = try await fleet.agentSession(tokenHash: tokenHash) else { throw SlipwayError.authFailure(Self.invalidToken) }
        return session
    }

    static func etag(_ generation: Int) -> String { "\"\(generation)\"" }

    static func generation(fromETag etag: String) -> Int? {
        Int(etag.replacing("W/", with: "").trimmed(of: ["\"", " "]))
    }
}
