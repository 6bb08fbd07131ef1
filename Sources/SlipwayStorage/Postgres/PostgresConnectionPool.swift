import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import SlipwayCore
import Synchronization

/// At most `size` connections to PostgreSQL, opened when needed and replaced when they break.
///
/// A caller waits for a free connection at most `acquireTimeout`, then hears 503: a pool that is
/// exhausted or a server that is down must not make requests hang.
final class PostgresConnectionPool: Sendable {
    private struct Waiter {
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, Error>
    }

    private struct State {
        var idle: [PostgresConnection] = []
        /// Connections handed out or being opened.
        var leased = 0
        /// First come, first served; every wait is as long, so the overdue ones are at the front.
        var waiters = CircularBuffer<Waiter>()
        var closed = false
    }

    let options: PostgresOptions
    private let configuration: PostgresConnection.Configuration
    private let eventLoops: any EventLoopGroup
    private let logger: Logger
    private let acquireTimeout: Duration
    private let state = Mutex(State())
    private let connectionIds = Atomic<Int>(0)
    /// Fails the waits that ran out: one timer for the whole pool, not one per waiting request (thousands
    /// of agents can be waiting at once).
    private let sweeper = Mutex<Task<Void, Never>?>(nil)

    init(options: PostgresOptions, eventLoops: any EventLoopGroup, logger: Logger, acquireTimeout: Duration = .seconds(5)) throws {
        self.options = options
        configuration = try options.connectionConfiguration()
        self.eventLoops = eventLoops
        self.logger = logger
        self.acquireTimeout = acquireTimeout
        let sweep = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                self?.expireOverdueWaiters()
            }
        }
        sweeper.withLock { $0 = sweep }
    }

    /// Runs `body` with a connection of its own. A connection that broke is closed rather than reused.
    func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await acquireSlot()
        let connection: PostgresConnection
        do {
            if let idle = idleConnection() { connection = idle } else { connection = try await open() }
        } catch {
            releaseSlot(returning: nil)
            throw error
        }
        do {
            let result = try await body(connection)
            releaseSlot(returning: connection)
            return result
        } catch {
            releaseSlot(returning: connection)
            throw error
        }
    }

    /// Opens a connection outside the pool (the notification listener's).
    func openDedicated() async throws -> PostgresConnection {
        try await open()
    }

    deinit {
        sweeper.withLock { $0?.cancel() }
        for connection in state.withLock({ $0.idle }) { connection.closeInBackground() }
    }

    func close() async {
        let (idle, waiters) = state.withLock { state -> ([PostgresConnection], CircularBuffer<Waiter>) in
            state.closed = true
            defer {
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        sweeper.withLock { $0?.cancel() }
        for waiter in waiters { waiter.continuation.resume(throwing: SlipwayError.unavailable("the server is shutting down; retry the request")) }
        for connection in idle { try? await connection.close() }
    }

    private func open() async throws -> PostgresConnection {
        let id = connectionIds.wrappingAdd(1, ordering: .relaxed).newValue
        do {
            // Bounded as a whole: a server that accepts the socket but never finishes the start-up (one that is
            // restarting) must not hold the request.
            let bound = Duration.seconds(options.connectTimeout + 5)
            return try await withThrowingTaskGroup(of: PostgresConnection?.self) { [configuration, eventLoops, logger] group in
                group.addTask { try await PostgresConnection.connect(on: eventLoops.any(), configuration: configuration, id: id, logger: logger) }
                group.addTask {
                    try? await Task.sleep(for: bound)
                    return nil
                }
                defer { group.cancelAll() }
                if let connection = try await group.next() ?? nil { return connection }
                // Timed out, or the caller was cancelled (a store closing): a connection that still opens is
                // closed, never dropped (postgres-nio requires every connection to be closed before release).
                group.cancelAll()
                while let late = try? await group.next() { late?.closeInBackground() }
                try Task.checkCancellation()
                throw SlipwayError.unavailable(
                    "PostgreSQL at \(options.host):\(options.port) did not finish opening a connection within \(bound); retry the request")
            }
        } catch let error as SlipwayError {
            throw error
        } catch {
            throw SlipwayError.unavailable(
                "PostgreSQL at \(options.host):\(options.port) cannot be reached (\(Self.describe(error))); retry the request")
        }
    }

    private func idleConnection() -> PostgresConnection? {
        while let connection = state.withLock({ $0.idle.popLast() }) {
            if !connection.isClosed { return connection }
        }
        return nil
    }

    private func acquireSlot() async throws {
        let granted = try state.withLock { state -> Bool in
            if state.closed { throw SlipwayError.unavailable("the server is shutting down; retry the request") }
            guard state.leased < options.poolSize else { return false }
            state.leased += 1
            return true
        }
        if granted { return }
        let deadline = ContinuousClock.now + acquireTimeout
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let granted = state.withLock { state -> Bool in
                if state.leased < options.poolSize {
                    state.leased += 1
                    return true
                }
                state.waiters.append(Waiter(deadline: deadline, continuation: continuation))
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func expireOverdueWaiters() {
        let now = ContinuousClock.now
        let overdue = state.withLock { state -> [Waiter] in
            var overdue: [Waiter] = []
            while let first = state.waiters.first, first.deadline <= now { overdue.append(state.waiters.removeFirst()) }
            return overdue
        }
        for waiter in overdue {
            waiter.continuation.resume(
                throwing: SlipwayError.unavailable(
                    "all \(options.poolSize) connections to PostgreSQL stayed busy for \(acquireTimeout); retry the request"))
        }
    }

    /// Gives the slot to the first waiter (the slot passes on, `leased` unchanged) or frees it.
    private func releaseSlot(returning connection: PostgresConnection?) {
        let (waiter, closeIt) = state.withLock { state -> (Waiter?, Bool) in
            var closeIt = false
            if let connection, !connection.isClosed {
                if state.closed { closeIt = true } else { state.idle.append(connection) }
            }
            if !state.waiters.isEmpty { return (state.waiters.removeFirst(), closeIt) }
            state.leased -= 1
            return (nil, closeIt)
        }
        if closeIt, let connection { connection.closeInBackground() }
        waiter?.continuation.resume()
    }

    /// A short reason from postgres-nio's error, without the query text it carries.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            if error.code == .sslUnsupported {
                return "it does not take TLS connections, which this sslmode requires; enable ssl on the server, or use sslmode=prefer or disable"
            }
            if let underlying = error.underlying { return describe(underlying) }
            return error.code.description
        }
        if let error = error as? NIOSSLError, case .handshakeFailed(let reason) = error {
            if "\(reason)".contains("CERTIFICATE_VERIFY_FAILED") {
                return "its TLS certificate is not trusted: set sslrootcert to the PEM file of the CA that signed it, or use sslmode=require to encrypt without checking who answers"
            }
            return "the TLS handshake failed: \(reason)"
        }
        return "\(error)"
    }
}

extension PostgresConnection {
    /// Starts closing, and keeps the connection alive until it has closed (postgres-nio asserts that a
    /// connection is closed before it is released).
    func closeInBackground() {
        close().whenComplete { _ in withExtendedLifetime(self) {} }
    }
}
