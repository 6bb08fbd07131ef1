import Foundation

/// How many requests a caller may make: `burst` at once, then `burst` per `period`, spread evenly.
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    public var burst: Int
    public var period: TimeInterval

    public init(burst: Int, per period: TimeInterval) {
        self.burst = burst
        self.period = period
    }

    /// No limit at all.
    public static let unlimited = RateLimit(burst: .max, per: 1)

    public var isUnlimited: Bool { burst == .max }

    /// Tokens added per second.
    var refillRate: Double { Double(burst) / period }

    /// Reads `N/second`, `N/minute`, `N/hour` (or `N/s`, `N/min`, `N/h`), or `off`.
    public init?(parsing text: String) {
        let lowered = text.lowercased().trimmingCharacters(in: .whitespaces)
        if lowered == "off" {
            self = .unlimited
            return
        }
        let parts = lowered.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let count = Int(parts[0]), (1...1_000_000).contains(count) else { return nil }
        let period: TimeInterval
        switch parts[1] {
        case "s", "sec", "second": period = 1
        case "m", "min", "minute": period = 60
        case "h", "hour": period = 3600
        default: return nil
        }
        self.init(burst: count, per: period)
    }

    public var description: String {
        if isUnlimited { return "off" }
        switch period {
        case 1: return "\(burst)/second"
        case 60: return "\(burst)/minute"
        case 3600: return "\(burst)/hour"
        default: return "\(burst) per \(Int(period)) s"
        }
    }
}

/// A token bucket: full at `burst`, one token per request, refilled continuously.
struct TokenBucket: Sendable, Equatable {
    private(set) var tokens: Double
    private(set) var updatedAt: Date

    init(_ limit: RateLimit, now: Date) {
        tokens = Double(limit.burst)
        updatedAt = now
    }

    /// Takes a token when there is one (nil); otherwise the seconds until there is.
    mutating func take(_ limit: RateLimit, at now: Date) -> TimeInterval? {
        refill(limit, at: now)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return (1 - tokens) / limit.refillRate
    }

    /// Whether the bucket has refilled completely, so forgetting it changes nothing.
    func isFull(_ limit: RateLimit, at now: Date) -> Bool {
        var copy = self
        copy.refill(limit, at: now)
        return copy.tokens >= Double(limit.burst)
    }

    private mutating func refill(_ limit: RateLimit, at now: Date) {
        let elapsed = max(0, now.timeIntervalSince(updatedAt))
        tokens = min(Double(limit.burst), tokens + elapsed * limit.refillRate)
        updatedAt = max(updatedAt, now)
    }
}

/// The abuse rules of the routes that take no token (sign-in, sign-up, refresh).
///
/// - Each client address has a bucket per route.
/// - An account's failed sign-ins from one address back off exponentially after `freeFailures`, so guessing one
///   account's password from one address slows to a trickle; a success resets it.
/// - An account's failed sign-ins from addresses it never signed in from share one bucket, which bounds guessing
///   spread over many addresses. Addresses that signed in to the account before are exempt, so an attacker who
///   fails on purpose can slow the victim only on a machine the victim never used, and never locks them out for
///   good: every limit refills by itself.
///
/// IPv6 addresses count by their /64 prefix (one host usually owns a whole /64). Memory is bounded: at most
/// `maxTrackedKeys` keys per table; idle ones go first.
public struct SignInThrottle: Sendable {
    public enum Route: String, Sendable, CaseIterable {
        case signIn = "sign-in"
        case signUp = "sign-up"
        case refresh = "token refresh"
    }

    public struct Limits: Sendable, Equatable {
        public var signInPerAddress = RateLimit(burst: 30, per: 60)
        public var signUpPerAddress = RateLimit(burst: 5, per: 3600)
        public var refreshPerAddress = RateLimit(burst: 120, per: 60)
        /// Failed sign-ins to one account from addresses it never signed in from.
        public var failuresPerAccount = RateLimit(burst: 50, per: 3600)
        /// Failures to one account from one address before each further attempt waits.
        public var freeFailures = 5
        /// The longest wait between attempts, however many failures.
        public var maxBackoff: TimeInterval = 900
        /// Keys remembered per table, beyond which idle ones are forgotten.
        public var maxTrackedKeys = 100_000

        public init() {}

        /// No limits (for tools that sign in many times from one address).
        public static var unlimited: Limits {
            var limits = Limits()
            limits.signInPerAddress = .unlimited
            limits.signUpPerAddress = .unlimited
            limits.refreshPerAddress = .unlimited
            limits.failuresPerAccount = .unlimited
            limits.freeFailures = .max
            return limits
        }

        func perAddress(_ route: Route) -> RateLimit {
            switch route {
            case .signIn: signInPerAddress
            case .signUp: signUpPerAddress
            case .refresh: refreshPerAddress
            }
        }
    }

    /// What to answer: go on, or wait this many seconds.
    public enum Decision: Sendable, Equatable {
        case allowed
        case limited(retryAfter: TimeInterval, reason: String)
    }

    struct FailureStreak: Sendable, Equatable {
        var count: Int
        var lastAt: Date
    }

    public let limits: Limits
    private var addressBuckets: [String: TokenBucket] = [:]
    private var streaks: [String: FailureStreak] = [:]
    private var accountBuckets: [String: TokenBucket] = [:]
    /// Per account, the addresses it signed in from lately (at most `knownAddressesPerAccount`).
    private var knownAddresses: [String: [String]] = [:]
    static let knownAddressesPerAccount = 8

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Keys held in the tables that grow with callers.
    var trackedKeys: Int { addressBuckets.count + streaks.count + accountBuckets.count }

    /// The request's place in its address's bucket for `route`.
    public mutating func admit(_ route: Route, from address: String, at now: Date) -> Decision {
        let limit = limits.perAddress(route)
        guard !limit.isUnlimited else { return .allowed }
        let key = "\(route.rawValue) \(Self.clientKey(address))"
        var bucket = addressBuckets[key] ?? TokenBucket(limit, now: now)
        let wait = bucket.take(limit, at: now)
        addressBuckets[key] = bucket
        Self.bound(&addressBuckets, limits.maxTrackedKeys) { $0.isFull(limit, at: now) }
        guard let wait else { return .allowed }
        return .limited(retryAfter: wait, reason: "too many \(route.rawValue) requests from \(address); the limit is \(limit)")
    }

    /// Whether a sign-in to `account` from `address` may be checked now (after ``admit(_:from:at:)``).
    public func admitSignIn(account: String, from address: String, at now: Date) -> Decision {
        let account = account.lowercased(), address = Self.clientKey(address)
        if let streak = streaks[Self.streakKey(account, address)], let wait = backoff(after: streak.count) {
            let remaining = streak.lastAt.addingTimeInterval(wait).timeIntervalSince(now)
            if remaining > 0 {
                return .limited(
                    retryAfter: remaining, reason: "\(streak.count) failed sign-ins to this account from this address; wait before trying again")
            }
        }
        if !limits.failuresPerAccount.isUnlimited, !(knownAddresses[account]?.contains(address) ?? false),
            var bucket = accountBuckets[account]
        {
            // Peek: a failure takes the token, in recordSignIn.
            if let wait = bucket.take(limits.failuresPerAccount, at: now) {
                return .limited(retryAfter: wait, reason: "too many failed sign-ins to this account from new addresses; wait before trying again")
            }
        }
        return .allowed
    }

    /// Records the outcome of a checked sign-in.
    public mutating func recordSignIn(account: String, from address: String, succeeded: Bool, at now: Date) {
        let account = account.lowercased(), address = Self.clientKey(address)
        let key = Self.streakKey(account, address)
        if succeeded {
            streaks[key] = nil
            var known = knownAddresses[account] ?? []
            known.removeAll { $0 == address }
            known.append(address)
            knownAddresses[account] = Array(known.suffix(Self.knownAddressesPerAccount))
            if knownAddresses.count > limits.maxTrackedKeys { knownAddresses.removeAll(keepingCapacity: true) }
            return
        }
        var streak = streaks[key] ?? FailureStreak(count: 0, lastAt: now)
        streak.count += 1
        streak.lastAt = now
        streaks[key] = streak
        let maxBackoff = limits.maxBackoff
        Self.bound(&streaks, limits.maxTrackedKeys) { now.timeIntervalSince($0.lastAt) > maxBackoff }
        let limit = limits.failuresPerAccount
        if !limit.isUnlimited, !(knownAddresses[account]?.contains(address) ?? false) {
            var bucket = accountBuckets[account] ?? TokenBucket(limit, now: now)
            _ = bucket.take(limit, at: now)
            accountBuckets[account] = bucket
            Self.bound(&accountBuckets, limits.maxTrackedKeys) { $0.isFull(limit, at: now) }
        }
    }

    /// The wait before the next attempt after `failures` consecutive failures: none for the first
    /// `freeFailures`, then 1 s, doubling, up to `maxBackoff`.
    func backoff(after failures: Int) -> TimeInterval? {
        guard failures >= limits.freeFailures else { return nil }
        let exponent = min(failures - limits.freeFailures, 30)
        return min(limits.maxBackoff, pow(2, Double(exponent)))
    }

    /// The part of an address that identifies a client: IPv4 whole, IPv6 by its /64.
    public static func clientKey(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var bytes = in6_addr()
        guard inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        let prefix = withUnsafeBytes(of: &bytes) { Array($0.prefix(8)) }
        // IPv4-mapped IPv6 (::ffff:a.b.c.d) is one IPv4 client.
        let mapped = withUnsafeBytes(of: &bytes) { Array($0) }
        if mapped.prefix(10).allSatisfy({ $0 == 0 }) && mapped[10] == 0xFF && mapped[11] == 0xFF {
            return mapped.suffix(4).map(String.init).joined(separator: ".")
        }
        return prefix.map { String(format: "%02x", $0) }.joined() + "::/64"
    }

    private static func streakKey(_ account: String, _ address: String) -> String { "\(account) \(address)" }

    /// Keeps `table` within `maxKeys`: forgets entries that carry no state first, then the whole table if it must
    /// (a flood of distinct keys then costs its sender nothing more than it costs others).
    private static func bound<Value>(_ table: inout [String: Value], _ maxKeys: Int, isIdle: (Value) -> Bool) {
        guard table.count > maxKeys else { return }
        table = table.filter { !isIdle($0.value) }
        if table.count > maxKeys { table.removeAll(keepingCapacity: true) }
    }
}
