import Foundation
import NIOCore
import NIOPosix
import SlipwayCore

/// The limits on the routes that take no token, for one replica: ``SignInThrottle``'s rules on the server's clock.
actor AbuseGuard {
    private var throttle: SignInThrottle
    private let clock: SlipwayClock

    init(limits: SignInThrottle.Limits, clock: SlipwayClock) {
        throttle = SignInThrottle(limits: limits)
        self.clock = clock
    }

    /// Throws 429 when `address` has used up its requests to `route`.
    func admit(_ route: SignInThrottle.Route, from address: String?) throws {
        try Self.answer(throttle.admit(route, from: address ?? "unknown", at: clock.now()))
    }

    /// Throws 429 when sign-ins to `account` from `address` must wait.
    func admitSignIn(account: String, from address: String?) throws {
        try Self.answer(throttle.admitSignIn(account: account, from: address ?? "unknown", at: clock.now()))
    }

    func recordSignIn(account: String, from address: String?, succeeded: Bool) {
        throttle.recordSignIn(account: account, from: address ?? "unknown", succeeded: succeeded, at: clock.now())
    }

    private static func answer(_ decision: SignInThrottle.Decision) throws {
        guard case .limited(let retryAfter, let reason) = decision else { return }
        let seconds = max(1, Int(retryAfter.rounded(.up)))
        throw SlipwayError.tooManyRequests("\(reason); retry after \(seconds) s", retryAfter: seconds)
    }
}

/// Password hashing (PBKDF2, deliberately slow) on a bounded queue: at most `concurrency` hashes at once, off
/// the cooperative pool, and at most `maxWaiting` waiting; past that a request gets 503 at once instead of queueing
/// without end while the cores are pinned.
actor PasswordWork {
    let concurrency: Int
    let maxWaiting: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(concurrency: Int, maxWaiting: Int) {
        self.concurrency = max(1, concurrency)
        self.maxWaiting = max(0, maxWaiting)
    }

    /// Half the cores (at least one): the rest stay free for every other request while sign-ins flood in.
    static var defaultConcurrency: Int { max(1, NIOCore.System.coreCount / 2) }

    func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await acquire()
        defer { release() }
        return try await NIOThreadPool.singleton.runIfActive(work)
    }

    private func acquire() async throws {
        if running < concurrency {
            running += 1
            return
        }
        guard waiting.count < maxWaiting else {
            throw SlipwayError.unavailable(
                "the server is busy checking passwords (\(running) running, \(waiting.count) waiting); retry in a moment", retryAfter: 1)
        }
        // release() hands its slot over without decrementing `running`.
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
