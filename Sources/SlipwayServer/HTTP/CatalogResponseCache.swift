import Hummingbird
import NIOCore
import SlipwayCore
import Synchronization

/// The encoded answers of hot catalog reads (Describe, List), kept until the next catalog write.
///
/// Pipelines poll Describe and List far more often than anything changes, so the second identical read
/// skips the database and the JSON encoder. An answer is keyed by the caller's organization and the
/// request's path and query, and tagged with the store's ``SlipwayStore/catalogRevision`` read before
/// the database was: a write moves the revision before the writer hears back, so no answer outlives an
/// acknowledged write. Errors are never kept.
final class CatalogResponseCache: Sendable {
    struct Key: Hashable, Sendable {
        let organizationId: String
        let target: String
    }

    private struct State {
        var revision: UInt64 = 0
        var answers: [Key: ByteBuffer] = [:]
    }

    private let state = Mutex(State())
    private let store: any SlipwayStore
    private let metrics: ServerMetrics
    /// Answers kept at most; past it the cache starts over (a bound on memory, not an LRU: the hot set refills at once).
    let capacity: Int

    init(store: any SlipwayStore, metrics: ServerMetrics, capacity: Int = 10_000) {
        self.store = store
        self.metrics = metrics
        self.capacity = capacity
    }

    /// The JSON answer for `request` by `organizationId`: kept bytes when the catalog has not changed, else `produce`'s.
    func response(
        to request: Request, organizationId: String, produce: () async throws -> some Encodable
    ) async throws -> Response {
        let key = Key(organizationId: organizationId, target: request.uri.string)
        let revision = store.catalogRevision
        if let kept = state.withLock({ $0.revision == revision ? $0.answers[key] : nil }) {
            metrics.recordCatalogAnswer(kept: true)
            return JSONBody.response(bytes: kept)
        }
        metrics.recordCatalogAnswer(kept: false)
        let bytes = ByteBuffer(bytes: try JSONBody.encoder.encode(try await produce()))
        state.withLock { state in
            if state.revision != revision {
                // An answer read before a newer write is not kept; an older cache is dropped.
                guard revision > state.revision else { return }
                state = State(revision: revision)
            }
            if state.answers.count >= capacity { state.answers.removeAll(keepingCapacity: true) }
            state.answers[key] = bytes
        }
        return JSONBody.response(bytes: bytes)
    }
}
