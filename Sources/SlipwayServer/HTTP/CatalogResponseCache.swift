import Hummingbird
import NIOCore
import SlipwayCore
import Synchronization

/// The encoded answers of hot catalog reads (Describe, List), kept until the next catalog write.
///
/// Pipelines poll Describe and List far more often than anything changes, so the second identical read
/// skips the database and the JSON encoder. An answer is keyed by the caller's organization and the
/// decoded inputs it depends on (never the raw URI: unknown parameters and other spellings of the same
/// path cannot multiply the keys), and tagged with the store's ``SlipwayStore/catalogRevision()`` read before the
/// database was: a write moves the revision before the writer hears back, so no answer outlives an
/// acknowledged write. Errors are never kept, so every kept key names things that exist.
final class CatalogResponseCache: Sendable {
    struct Key: Hashable, Sendable {
        let organizationId: String
        /// The operation and every input its answer depends on, decoded: equal inputs, one key.
        let inputs: [String?]
    }

    private struct State {
        var revision: UInt64 = 0
        var answers: [Key: ByteBuffer] = [:]
        var bytes = 0
    }

    private let state = Mutex(State())
    private let store: any SlipwayStore
    private let metrics: ServerMetrics
    /// Answers and bytes kept at most; past either the cache starts over (a bound on memory, not an LRU:
    /// the hot set refills at once).
    let capacity: Int
    let maxBytes: Int
    init(store: any SlipwayStore, metrics: ServerMetrics, capacity: Int = 10_000, maxBytes: Int = 64 << 20) {
        self.store = store
        self.metrics = metrics
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    /// The JSON answer for `inputs` (the operation's name, then what its answer depends on) asked by
    /// `organizationId`: kept bytes when the catalog has not changed, else `produce`'s.
    func response(
        organizationId: String, inputs: [String?], produce: () async throws -> some Encodable
    ) async throws -> Response {
        let key = Key(organizationId: organizationId, inputs: inputs)
        let revision = await store.catalogRevision()
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
            if state.answers.count >= capacity || state.bytes + bytes.readableBytes > maxBytes {
                state.answers.removeAll(keepingCapacity: true)
                state.bytes = 0
            }
            if let replaced = state.answers.updateValue(bytes, forKey: key) { state.bytes -= replaced.readableBytes }
            state.bytes += bytes.readableBytes
        }
        return JSONBody.response(bytes: bytes)
    }
}
