import Foundation
import Logging
import SlipwayCore
import Synchronization

// Several processes on one database: PostgreSQL replicas. A SQLite file has one process (its lock keeps
// others out), so there the store drives rollouts and has nothing to hear from others.

/// A counter that only moves forward.
final class CatalogRevision: Sendable {
    private let counter = Atomic<UInt64>(0)
    var value: UInt64 { counter.load(ordering: .acquiring) }
    @discardableResult
    func move() -> UInt64 { counter.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue }
}

/// What a store on a shared database has besides the database: the coordination with the other
/// replicas, and the stream of their changes this process acts on.
final class Replication: Sendable {
    let coordination: PostgresCoordination
    let signals: AsyncStream<FleetSignal>
    let backend: PostgresBackend

    init(coordination: PostgresCoordination, signals: AsyncStream<FleetSignal>, backend: PostgresBackend) {
        self.coordination = coordination
        self.signals = signals
        self.backend = backend
    }

    /// A store dropped without ``SQLStore/close()`` stops listening and renewing (its lease then expires).
    deinit {
        coordination.cancel()
    }
}

extension SQLStore {
    /// Opens the PostgreSQL database at `url` (see ``PostgresOptions``), brings its schema up to date, and
    /// starts listening to the other replicas. With `driveRollouts` false it never takes the engine's lease
    /// (a copy or a maintenance command).
    public static func openPostgres(url: String, driveRollouts: Bool = true, logger: Logger = Logger(label: "slipway.postgres")) async throws -> SQLStore {
        let options = try PostgresOptions(url: url)
        let agents = AgentDirectory()
        let backend = try PostgresBackend(options: options, agents: agents, logger: logger)
        do {
            try await backend.pool.withConnection { connection in
                try await PostgresMigrations.migrate(connection, logger: logger, displayName: options.displayName)
            }
        } catch let error as SlipwayError {
            await backend.shutdown()
            throw StoreOpeningError("cannot open the PostgreSQL database \(options.displayName): \(error.message)")
        } catch let error as StoreOpeningError {
            await backend.shutdown()
            throw error
        } catch {
            await backend.shutdown()
            throw StoreOpeningError(
                "cannot open the PostgreSQL database \(options.displayName): \(PostgresConnectionPool.describe(error))")
        }
        let catalogWrites = CatalogRevision()
        let (signals, continuation) = AsyncStream<FleetSignal>.makeStream(bufferingPolicy: .bufferingNewest(100_000))
        let coordination = PostgresCoordination(
            pool: backend.pool, logger: logger, takesLease: driveRollouts,
            handlers: .init(
                instanceChanged: { seq, id, deleted in
                    agents.forget(changedRows: deleted ? [] : [seq], deletedRows: deleted ? [seq] : [])
                    continuation.yield(.desiredStateChanged([id]))
                },
                catalogChanged: { catalogWrites.move() },
                rolloutWork: { id in continuation.yield(.rolloutWork(id)) },
                resync: {
                    agents.forgetAll()
                    catalogWrites.move()
                    continuation.yield(.resync)
                },
                leadership: { continuation.yield(.drivingRollouts) }))
        coordination.start()
        return SQLStore(
            database: backend, agents: agents, catalogWrites: catalogWrites,
            replication: Replication(coordination: coordination, signals: signals, backend: backend))
    }

    /// Hands the engine's lease back and closes the connections. The store answers nothing afterwards.
    public func close() async {
        guard let replication else { return }
        await replication.coordination.stop()
        await replication.backend.shutdown()
    }

    /// Whether this process hears of other processes' changes now (always on a file of one process).
    var isListening: Bool {
        replication?.coordination.isListening ?? true
    }

    public var drivesRollouts: Bool {
        replication?.coordination.holdsLease ?? true
    }

    public func signals() -> AsyncStream<FleetSignal> {
        replication?.signals ?? AsyncStream { $0.finish() }
    }
}
