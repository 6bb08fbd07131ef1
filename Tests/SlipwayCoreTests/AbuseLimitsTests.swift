import Foundation
@testable import SlipwayCore
import Testing

/// The limits on sign-in, sign-up and refresh, on a clock the test moves.
@Suite("Abuse limits")
struct AbuseLimitsTests {
    static let t0 = Date(timeIntervalSince1970: 1_000_000)

    static func limits(signIn: RateLimit = RateLimit(burst: 3, per: 60)) -> SignInThrottle.Limits {
        var limits = SignInThrottle.Limits()
        limits.signInPerAddress = signIn
        limits.failuresPerAccount = RateLimit(burst: 4, per: 3600)
        limits.freeFailures = 2
        limits.maxBackoff = 8
        return limits
    }

    @Test func ratesReadAsWrittenAndRefuseTheRest() {
        #expect(RateLimit(parsing: "30/minute") == RateLimit(burst: 30, per: 60))
        #expect(RateLimit(parsing: "5/h") == RateLimit(burst: 5, per: 3600))
        #expect(RateLimit(parsing: "2/S") == RateLimit(burst: 2, per: 1))
        #expect(RateLimit(parsing: "off") == .unlimited)
        for bad in ["", "30", "0/minute", "-1/minute", "30/day", "x/minute", "30/minute/extra", "1000001/s"] {
            #expect(RateLimit(parsing: bad) == nil, "\(bad)")
        }
        #expect(RateLimit(burst: 30, per: 60).description == "30/minute")
    }

    @Test func anAddressGetsItsBurstThenOneRequestPerRefill() {
        var throttle = SignInThrottle(limits: Self.limits())
        for _ in 0..<3 { #expect(throttle.admit(.signIn, from: "10.0.0.1", at: Self.t0) == .allowed) }
        guard case .limited(let wait, let reason) = throttle.admit(.signIn, from: "10.0.0.1", at: Self.t0) else {
            Issue.record("the fourth sign-in in a burst of three was allowed")
            return
        }
        #expect(wait == 20)  // 3 per minute: one every 20 s
        #expect(reason == "too many sign-in requests from 10.0.0.1; the limit is 3/minute")
        // Others are not affected, nor are other routes from the same address.
        #expect(throttle.admit(.signIn, from: "10.0.0.2", at: Self.t0) == .allowed)
        #expect(throttle.admit(.refresh, from: "10.0.0.1", at: Self.t0) == .allowed)
        // Refilled: one more after 20 s, not two.
        let later = Self.t0.addingTimeInterval(20)
        #expect(throttle.admit(.signIn, from: "10.0.0.1", at: later) == .allowed)
        #expect(throttle.admit(.signIn, from: "10.0.0.1", at: later) != .allowed)
    }

    @Test func anIPv6ClientCountsByItsSlash64() {
        var throttle = SignInThrottle(limits: Self.limits())
        for host in 1...3 { #expect(throttle.admit(.signIn, from: "2001:db8:1:2::\(host)", at: Self.t0) == .allowed) }
        #expect(throttle.admit(.signIn, from: "2001:db8:1:2:ffff::9", at: Self.t0) != .allowed)
        #expect(throttle.admit(.signIn, from: "2001:db8:1:3::1", at: Self.t0) == .allowed)
        #expect(SignInThrottle.clientKey("::ffff:10.1.2.3") == "10.1.2.3")
        #expect(SignInThrottle.clientKey("not an address") == "not an address")
    }

    @Test func failuresFromOneAddressBackOffExponentiallyAndASuccessResets() {
        var limits = Self.limits()
        limits.failuresPerAccount = RateLimit(burst: 100, per: 3600)
        var throttle = SignInThrottle(limits: limits)
        let account = "Ops@Example.com"
        var now = Self.t0
        // Two free failures, then 1 s, 2 s, 4 s, 8 s, 8 s (the cap).
        for _ in 0..<2 {
            #expect(throttle.admitSignIn(account: account, from: "10.0.0.1", at: now) == .allowed)
            throttle.recordSignIn(account: account, from: "10.0.0.1", succeeded: false, at: now)
        }
        for expected in [1.0, 2, 4, 8, 8] {
            guard case .limited(let wait, let reason) = throttle.admitSignIn(account: "ops@example.com", from: "10.0.0.1", at: now) else {
                Issue.record("no backoff after a failure streak")
                return
            }
            #expect(wait == expected)
            #expect(reason.contains("failed sign-ins to this account from this address"))
            now = now.addingTimeInterval(expected)
            #expect(throttle.admitSignIn(account: account, from: "10.0.0.1", at: now) == .allowed)
            throttle.recordSignIn(account: account, from: "10.0.0.1", succeeded: false, at: now)
        }
        // Another address is not slowed by this streak.
        #expect(throttle.admitSignIn(account: account, from: "10.0.0.2", at: now) == .allowed)
        // A success resets the streak.
        now = now.addingTimeInterval(8)
        throttle.recordSignIn(account: account, from: "10.0.0.1", succeeded: true, at: now)
        #expect(throttle.admitSignIn(account: account, from: "10.0.0.1", at: now) == .allowed)
    }

    @Test func failuresSpreadOverNewAddressesShareABucketThatSparesKnownAddresses() {
        var throttle = SignInThrottle(limits: Self.limits())
        let account = "ops@example.com"
        throttle.recordSignIn(account: account, from: "192.0.2.7", succeeded: true, at: Self.t0)
        // Four failures, each from a new address, use the account's bucket.
        for host in 1...4 {
            #expect(throttle.admitSignIn(account: account, from: "198.51.100.\(host)", at: Self.t0) == .allowed)
            throttle.recordSignIn(account: account, from: "198.51.100.\(host)", succeeded: false, at: Self.t0)
        }
        guard case .limited(let wait, _) = throttle.admitSignIn(account: account, from: "198.51.100.99", at: Self.t0) else {
            Issue.record("guessing spread over addresses was not limited")
            return
        }
        #expect(wait == 900)  // 4 per hour
        // The owner's usual address still signs in, and other accounts are untouched.
        #expect(throttle.admitSignIn(account: account, from: "192.0.2.7", at: Self.t0) == .allowed)
        #expect(throttle.admitSignIn(account: "dev@example.com", from: "198.51.100.99", at: Self.t0) == .allowed)
        // Nothing is permanent: the bucket refills.
        #expect(throttle.admitSignIn(account: account, from: "198.51.100.99", at: Self.t0.addingTimeInterval(900)) == .allowed)
    }

    @Test func memoryStaysBoundedUnderAFloodOfAddresses() {
        var limits = Self.limits()
        limits.maxTrackedKeys = 100
        var throttle = SignInThrottle(limits: limits)
        for host in 0..<1000 {
            _ = throttle.admit(.signIn, from: "10.0.\(host / 256).\(host % 256)", at: Self.t0)
            throttle.recordSignIn(account: "a\(host)@example.com", from: "10.9.\(host / 256).\(host % 256)", succeeded: false, at: Self.t0)
        }
        #expect(throttle.trackedKeys <= 3 * 100)
    }

    @Test func unlimitedLimitsNeverRefuse() {
        var throttle = SignInThrottle(limits: .unlimited)
        for _ in 0..<1000 {
            #expect(throttle.admit(.signIn, from: "10.0.0.1", at: Self.t0) == .allowed)
            #expect(throttle.admitSignIn(account: "a@example.com", from: "10.0.0.1", at: Self.t0) == .allowed)
            throttle.recordSignIn(account: "a@example.com", from: "10.0.0.1", succeeded: false, at: Self.t0)
        }
    }
}
