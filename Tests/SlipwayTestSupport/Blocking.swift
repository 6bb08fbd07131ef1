import Foundation

/// Runs blocking work (waiting for a process, reading a pipe to its end) on a thread of its own. The
/// concurrency pool has one thread per core, and the in-process servers of the tests running beside it need
/// them: on a two-core machine, two tests waiting for processes there would starve every other test's server.
public func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// ``onOwnThread(_:)`` for work that cannot fail.
public func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}
