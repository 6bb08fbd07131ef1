import Foundation
import SlipwayCore

/// Writes agents' reports in batches: whatever arrived while the last batch was being written goes in the
/// next transaction, so a burst of reports pays for one fsync, not one each. Each caller still returns only
/// once its own report is durable.
public actor ReportBatcher {
    private typealias Waiting = (instanceId: String, report: AgentReport, continuation: CheckedContinuation<String?, Error>)
    private let store: any FleetStore
    private let maxBatch: Int
    /// Reports that may wait for the database; past this a report is refused at once (503, temporary) and the
    /// agent sends it again later, rather than the server holding requests without end while the database lags.
    private let maxWaiting: Int
    private let clock: SlipwayClock
    private var pending: [Waiting] = []
    private var writing = false

    public init(store: any FleetStore, clock: SlipwayClock = .system, maxBatch: Int = 2000, maxWaiting: Int = 20_000) {
        self.store = store
        self.clock = clock
        self.maxBatch = maxBatch
        self.maxWaiting = maxWaiting
    }

    /// Records a report; returns the id of a rollout whose wave it finished, as ``FleetStore/recordReports(_:now:)`` does.
    public func submit(instanceId: String, report: AgentReport) async throws -> String? {
        guard pending.count < maxWaiting else {
            throw SlipwayError.unavailable(
                "too many agent reports are waiting to be written (\(pending.count)); send this one again in a moment", retryAfter: 1)
        }
        return try await withCheckedThrowingContinuation { continuation in
            pending.append((instanceId, report, continuation))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            do {
                let results = try await store.recordReports(batch.map { ($0.instanceId, $0.report) }, now: clock.now())
                for (waiting, result) in zip(batch, results) { waiting.continuation.resume(with: result.mapError { $0 as Error }) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
        writing = false
    }
}
