import Foundation
import HTTPTypes
import SlipwayCore
import SlipwayServer
import SlipwayTestSupport
import SlipwayWire
import Testing

/// The limits that keep one client from taking the server from the others: sign-in, sign-up and refresh rates,
/// failed sign-ins backing off, bounded password hashing, idle and slow connections, connections per address.
/// Other client addresses are real: sockets bound to 127.0.0.2 and 127.0.0.3.
@Suite("Abuse limits and connections", .timeLimit(.minutes(3)))
struct AbuseTests {
    static func port(of api: APIClient) -> Int { Int(api.serverURL.split(separator: ":").last!)! }

    static func signInRequest(_ email: String = adminEmail, _ password: String = adminPassword) -> String {
        let body = #"{"email":"\#(email)","password":"\#(password)"}"#
        return "POST /2022-09-01-00/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n\(body)"
    }

    /// A sign-in from another loopback address, over a socket of its own: the status line and the whole answer.
    static func signIn(from source: String, port: Int, _ email: String = adminEmail, _ password: String = adminPassword) async throws -> String {
        try await onOwnThread { try RawSocket(from: source, toPort: port).exchange(signInRequest(email, password)) }
    }

    @Test func aSignInFloodGets429WithRetryAfterWhileOtherAddressesStillSignIn() async throws {
        var configuration = try await testConfiguration()
        configuration.abuseLimits.signInPerAddress = RateLimit(burst: 5, per: 60)
        // Time stands still, so the bucket does not refill while the sign-ins are checked.
        let frozen = Date()
        configuration.clock = SlipwayClock { frozen }
        try await withServer(configuration) { api in
            for _ in 0..<5 { _ = try await api.signIn() }
            let limited = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
            limited.expectError(
                .tooManyRequests, "too_many_requests", message: "too many sign-in requests from 127.0.0.1; the limit is 5/minute; retry after 12 s")
            #expect(limited.headers[.retryAfter] == "12")
            // Refresh has a bucket of its own, and another address is not held back.
            let other = try await Self.signIn(from: "127.0.0.2", port: Self.port(of: api))
            #expect(other.hasPrefix("HTTP/1.1 200"), "\(other)")
        }
    }

    @Test func failedSignInsToOneAccountBackOffFromThatAddressOnly() async throws {
        var configuration = try await testConfiguration()
        // Time stands still, so the backoff cannot run out during the test.
        let frozen = Date()
        configuration.clock = SlipwayClock { frozen }
        try await withServer(configuration) { api in
            for _ in 0..<5 {
                try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: "wrong-password"))
                    .expectError(.unauthorized, "auth_failure", message: "wrong email or password")
            }
            // Even the right password waits now, from this address.
            let waiting = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
            waiting.expectError(
                .tooManyRequests, "too_many_requests",
                message: "5 failed sign-ins to this account from this address; wait before trying again; retry after 1 s")
            #expect(waiting.headers[.retryAfter] == "1")
            // The email's case does not make it another account.
            try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail.uppercased(), password: "x"))
                .expectError(.tooManyRequests, "too_many_requests", containing: "5 failed sign-ins to this account")
            // The owner elsewhere is not locked out.
            let owner = try await Self.signIn(from: "127.0.0.3", port: Self.port(of: api))
            #expect(owner.hasPrefix("HTTP/1.1 200"), "\(owner)")
        }
    }

    @Test func passwordHashingIsBoundedAndAnswers503WhenItsQueueIsFull() async throws {
        var configuration = try await testConfiguration()
        configuration.abuseLimits = .unlimited
        configuration.passwordHashingConcurrency = 1
        configuration.passwordHashingQueue = 2
        try await withServer(configuration) { api in
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let busy = replies.filter { $0.status.code == 503 }
            let codes = replies.map(\.status.code)
            #expect(Set(codes).isSubset(of: [200, 503]), "\(codes)")
            // One hashing and two waiting at most: of twelve at once, at most three get through the first round.
            #expect(busy.count >= 6, "\(replies.map(\.status.code))")
            for reply in busy {
                reply.expectError(
                    .serviceUnavailable, "service_unavailable",
                    message: "the server is busy checking passwords (1 running, 2 waiting); retry in a moment")
                #expect(reply.headers[.retryAfter] == "1")
            }
            // Once the flood has passed, sign-in works again.
            _ = try await api.signIn()
        }
    }

    @Test func signUpAndRefreshHaveTheirOwnLimits() async throws {
        var configuration = try await testConfiguration()
        configuration.allowSignup = true
        let frozen = Date()
        configuration.clock = SlipwayClock { frozen }
        configuration.abuseLimits.signUpPerAddress = RateLimit(burst: 1, per: 3600)
        configuration.abuseLimits.refreshPerAddress = RateLimit(burst: 1, per: 1)
        try await withServer(configuration) { api in
            let first = try await api.call(
                .post, "/2022-09-01-00/signup", json: SignupRequest(name: "Ann", email: "ann@example.com", password: "long-enough-password", companyName: "Acme"))
            #expect(first.status == .ok, "\(first.body)")
            try await api.call(
                .post, "/2022-09-01-00/signup", json: SignupRequest(name: "Bob", email: "bob@example.com", password: "long-enough-password", companyName: "Bobco"))
                .expectError(.tooManyRequests, "too_many_requests", message: "too many sign-up requests from 127.0.0.1; the limit is 1/hour; retry after 3600 s")
            let session = try await api.call(.post, "/2022-09-01-00/signin", json: SigninRequest(email: adminEmail, password: adminPassword))
                .decode(SigninResult.self)
            let refreshed = try await api.call(.post, "/2022-09-01-00/refresh-token", json: RefreshTokenRequest(refreshToken: try #require(session.refreshToken)))
            #expect(refreshed.status == .ok, "\(refreshed.body)")
            try await api.call(.post, "/2022-09-01-00/refresh-token", json: RefreshTokenRequest(refreshToken: "rt-whatever"))
                .expectError(.tooManyRequests, "too_many_requests", containing: "too many token refresh requests from 127.0.0.1; the limit is 1/second")
        }
    }

    @Test func idleAndSlowConnectionsAreClosedAndOneAddressCannotTakeEverySlot() async throws {
        var configuration = try await testConfiguration()
        // Long enough that opening 500 sockets on a loaded machine does not let the first ones go idle before they
        // are counted; short enough that the admitted ones are closed by the end of the long-polls below.
        configuration.idleTimeout = .seconds(4)
        configuration.requestReadTimeout = .seconds(1)
        configuration.maxConnectionsPerAddress = 100
        try await withServer(configuration) { api in
            let port = Self.port(of: api)
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 50)
            // 500 idle sockets from 127.0.0.2: past 100 they are closed at once.
            let flood = try await onOwnThread { try (0..<500).map { _ in try RawSocket(from: "127.0.0.2", toPort: port) } }
            // Well inside the idle timeout, the ones past the cap have been closed already.
            try await Task.sleep(for: .seconds(1))
            let refused = await onOwnThread { flood.filter { $0.closedByServer(within: 0.01) } }
            #expect(refused.count == 400)
            let admitted = flood.filter { socket in !refused.contains { $0 === socket } }
            // 50 agents long-poll from 127.0.0.1 meanwhile, and are answered when their wait ends.
            let started = Date()
            let answers = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for instance in fleet.instances {
                    group.addTask {
                        let agent = api.as_(instance.agentToken)
                        let etag = try #require(try await agent.call(.get, "/agent/v1/desired-state").headers[.eTag])
                        return try await agent.call(.get, "/agent/v1/desired-state?wait=2", headers: [.ifNoneMatch: etag]).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0 == .notModified }, "\(answers)")
            #expect(Date().timeIntervalSince(started) >= 2)
            // The 100 that were let in were idle: the idle timeout has closed them by now, or does within a moment.
            let closed = await onOwnThread { admitted.filter { $0.closedByServer(within: 3) }.count }
            #expect(closed == 100)
            // A request sent a byte at a time, often enough that the connection is never idle, is cut off after the
            // read timeout, in its headers or in its body.
            let head = "POST /2022-09-01-00/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + String(repeating: "a", count: 100)
            let body = "POST /2022-09-01-00/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n" + String(repeating: " ", count: 100)
            let cut = try await onOwnThread {
                try [head, body].map { try RawSocket(from: "127.0.0.3", toPort: port).trickle($0, every: 0.25, closedWithin: 5) }
            }
            #expect(cut == [true, true])
            // The address that flooded can connect again once its sockets are gone.
            let again = try await Self.signIn(from: "127.0.0.2", port: port)
            #expect(again.hasPrefix("HTTP/1.1 200"), "\(again)")
        }
    }

    @Test func agentReportsPastTheWaitingBoundAre503SoAgentsSendThemAgain() async throws {
        var configuration = try await testConfiguration()
        configuration.maxWaitingReports = 1
        try await withServer(configuration) { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 40)
            let replies = try await withThrowingTaskGroup(of: Reply.self) { group in
                for instance in fleet.instances {
                    group.addTask {
                        try await api.as_(instance.agentToken).call(
                            .post, "/agent/v1/report", json: AgentReportRequest(tierVersion: "1.0", status: "SUCCEEDED", generation: 1))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let codes = replies.map(\.status.code)
            #expect(Set(codes).isSubset(of: [200, 503]), "\(replies.map(\.body))")
            #expect(codes.contains(503), "forty reports at once, one may wait: some are refused")
            for reply in replies where reply.status.code == 503 {
                reply.expectError(
                    .serviceUnavailable, "service_unavailable",
                    message: "too many agent reports are waiting to be written (1); send this one again in a moment")
                #expect(reply.headers[.retryAfter] == "1")
            }
            // Sent again once the queue has drained, every report is taken.
            for (instance, reply) in zip(fleet.instances, replies) where reply.status.code == 503 {
                let again = try await api.as_(instance.agentToken).call(
                    .post, "/agent/v1/report", json: AgentReportRequest(tierVersion: "1.0", status: "SUCCEEDED", generation: 1))
                #expect(again.status.code == 200, "\(again.body)")
            }
        }
    }
}
