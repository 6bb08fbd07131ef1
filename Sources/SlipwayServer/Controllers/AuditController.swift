import Foundation
import Hummingbird
import ServiceLifecycle
import SlipwayCore
import SlipwayWire

/// `GET /2022-09-01-00/audit-log`: admins read who did what. Append-only: no route changes or deletes it.
struct AuditController {
    let store: any SlipwayStore

    func addRoutes(to api: RouterGroup<SlipwayRequestContext>) {
        api.get("audit-log") { request, context in
            let identity = try context.requireIdentity()
            try identity.requireAdmin()
            let filter = AuditFilter(
                actor: try request.query("actor").map { try Self.bounded($0, field: "actor") },
                action: try request.query("action").map { try Self.bounded($0, field: "action") },
                target: try request.query("target").map { try Self.bounded($0, field: "target") },
                since: try request.query("since").map { try Self.time($0, field: "since") },
                until: try request.query("until").map { try Self.time($0, field: "until") })
            let page = try await store.auditRecords(organizationId: identity.organizationId, filter: filter, page: try request.pageRequest())
            return try JSONBody.response(ListAuditRecordsResult(records: page.items.map(AuditRecordResult.init), nextPageToken: page.nextPageToken))
        }
    }

    private static func bounded(_ value: String, field: String) throws -> String {
        guard value.utf8.count <= 256 else { throw SlipwayError.badRequest("\(field) must be at most 256 bytes") }
        return value
    }

    private static func time(_ value: String, field: String) throws -> Date {
        guard let date = RFC3339.date(value) else {
            throw SlipwayError.badRequest("\(field) must be an RFC 3339 time such as 2026-12-01T00:00:00Z, got '\(value.prefix(utf8Bytes: 40))'")
        }
        return date
    }
}

/// Trims audit records older than the retention, in bounded batches, so the log does not grow without end.
struct AuditRetention: ServiceLifecycle.Service {
    let store: any SlipwayStore
    let clock: SlipwayClock
    let retentionDays: Int

    func run() async throws {
        // Stops at once on shutdown: a trim in flight is one short transaction.
        try? await cancelWhenGracefulShutdown { await trimForever() }
    }

    private func trimForever() async {
        while !Task.isCancelled {
            let cutoff = clock.now().addingTimeInterval(-Double(retentionDays) * 86_400)
            // Batches keep each transaction short; the next hour picks up what is left.
            for _ in 0..<100 {
                guard let trimmed = try? await store.trimAudit(before: cutoff, limit: 1000), trimmed == 1000 else { break }
            }
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}
