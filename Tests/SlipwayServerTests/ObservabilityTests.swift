import Foundation
import HTTPTypes
import Logging
import SlipwayServer
import SlipwayWire
import Testing

@Suite("GET /metrics: Prometheus text for the operator")
struct MetricsTests {
    @Test func countsRequestsByRoutePatternAndReadsTheFleet() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let fixture = try await Fixture.make(admin)
            for _ in 0..<2 { #expect(try await admin.call(.get, fixture.imageConfigPath).status == .ok) }
            // Parameters the answer does not depend on, or empty ones, share the kept answer: they cannot multiply the keys.
            #expect(try await admin.call(.get, fixture.imageConfigPath + "?padding=xxxxxxxx&ProductTierId=").status == .ok)
            #expect(try await api.call(.get, "/no-such-route").status == .notFound)
            let instancePath = "/2022-09-01-00/service/\(fixture.serviceId)/environment/\(fixture.environmentId)/instance"
            let released = try await admin.call(.post, fixture.imageConfigPath + "/release")
            #expect(released.status == .ok)
            #expect(try await admin.call(.post, instancePath, json: RegisterInstanceRequest(productTierId: fixture.productTierId, name: "node-01")).status == .ok)

            let scrape = try await api.as_(nil).call(.get, "/metrics")
            #expect(scrape.status == .ok)
            #expect(scrape.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            let lines = Set(scrape.body.split(separator: "\n").map(String.init))
            let describeRoute = "/2022-09-01-00/service/{serviceId}/image-config/{id}"
            #expect(lines.contains("slipway_http_requests_total{method=\"GET\",route=\"\(describeRoute)\",status=\"200\"} 3"))
            #expect(lines.contains("slipway_http_requests_total{method=\"GET\",route=\"NotFound\",status=\"404\"} 1"))
            #expect(lines.contains("slipway_catalog_answers_total{source=\"database\"} 1"))
            #expect(lines.contains("slipway_catalog_answers_total{source=\"kept\"} 2"))
            #expect(lines.contains("slipway_http_request_duration_seconds_count{method=\"GET\",route=\"\(describeRoute)\"} 3"))
            #expect(lines.contains("slipway_instances 1.0"))
            #expect(lines.contains("slipway_rollouts{status=\"RUNNING\"} 0.0"))
            #expect(lines.contains("slipway_agent_long_polls 0.0"))
            #expect(lines.contains { $0.hasPrefix("process_resident_memory_bytes ") })
            #expect(lines.contains { $0.hasPrefix("process_open_fds ") })
        }
    }

    /// An engine that is woken and then left alone goes back to sleep until its next deadline: its pass
    /// count stays put. (A timer that woke the engine after being cancelled once made every wake-up
    /// schedule the next, and the count climbed by thousands a second.)
    @Test func anEngineWokenAndLeftAloneSleeps() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            try await Fleet.wakeTheEngineThrice(admin)
            let (before, after) = try await api.as_(nil).enginePassesTwoSecondsApart()
            #expect(before >= 3, "the rollout, the pause and the resume each woke the engine")
            #expect(after - before <= 1, "the engine passed \(after - before) times in 2 s with nothing to do")
        }
    }

    /// Listening beyond loopback, the endpoint is closed unless a token is set: its counts span every organization.
    @Test func closedBeyondLoopbackWithoutAToken() async throws {
        var configuration = try await testConfiguration()
        configuration.hostname = "0.0.0.0"
        try await withServer(configuration) { api in
            try await api.as_(nil).call(.get, "/metrics").expectError(
                .forbidden, "forbidden",
                message: "GET /metrics is closed while slipwayd listens beyond loopback; set SLIPWAY_METRICS_TOKEN and scrape with 'Authorization: Bearer <token>'")
        }
        configuration.metricsToken = "scrape-secret-1"
        try await withServer(configuration) { api in
            let scrape = try await api.as_("scrape-secret-1").call(.get, "/metrics")
            #expect(scrape.status == .ok)
        }
    }

    @Test func aConfiguredTokenGuardsTheEndpoint() async throws {
        var configuration = try await testConfiguration()
        configuration.metricsToken = "scrape-secret-1"
        try await withServer(configuration) { api in
            let refused = "GET /metrics needs 'Authorization: Bearer <token>' with the token in SLIPWAY_METRICS_TOKEN"
            try await api.as_(nil).call(.get, "/metrics").expectError(.unauthorized, "auth_failure", message: refused)
            try await api.as_("scrape-secret-2").call(.get, "/metrics").expectError(.unauthorized, "auth_failure", message: refused)
            try await api.as_("scrape-secret").call(.get, "/metrics").expectError(.unauthorized, "auth_failure", message: refused)
            let scrape = try await api.as_("scrape-secret-1").call(.get, "/metrics")
            #expect(scrape.status == .ok)
            #expect(scrape.body.contains("slipway_instances 0.0"))
        }
    }
}

@Suite("GET /metrics on slipwayd itself")
struct MetricsProcessTests {
    @Test func slipwaydTakesTheMetricsTokenFromItsEnvironment() async throws {
        let server = try await ServerProcess(database: temporaryDatabase(), environment: ["SLIPWAY_METRICS_TOKEN": "scrape-secret-1"])
        try await server.api.call(.get, "/metrics").expectError(
            .unauthorized, "auth_failure", message: "GET /metrics needs 'Authorization: Bearer <token>' with the token in SLIPWAY_METRICS_TOKEN")
        let scrape = try await server.api.as_("scrape-secret-1").call(.get, "/metrics")
        #expect(scrape.status == .ok)
        #expect(scrape.body.contains("slipway_instances 0.0"))
        await server.kill(SIGTERM)
    }
}

@Suite("The web console's files and the API calls it relies on")
struct WebConsoleTests {
    /// Every address of the console answers its page; the page, script and style sheet come with a policy
    /// that allows no inline script or style, no framing and no other origin.
    @Test func pagesComeWithAStrictPolicy() async throws {
        try await withServer { api in
            let anonymous = api.as_(nil)
            for (path, type) in [
                ("/ui", "text/html; charset=utf-8"), ("/ui/", "text/html; charset=utf-8"), ("/ui/rollout?service=s-1&imageConfig=imgc-1", "text/html; charset=utf-8"),
                ("/ui/console.js", "text/javascript; charset=utf-8"), ("/ui/console.css", "text/css; charset=utf-8"),
            ] {
                let reply = try await anonymous.call(.get, path)
                #expect(reply.status == .ok, "\(path)")
                #expect(reply.headers[.contentType] == type, "\(path)")
                let policy = try #require(reply.headers[HTTPField.Name("Content-Security-Policy")!], "\(path)")
                #expect(policy.contains("script-src 'self'") && policy.contains("style-src 'self'") && policy.contains("frame-ancestors 'none'"))
                #expect(!policy.contains("unsafe"), "\(policy)")
                #expect(reply.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            }
            let page = try await anonymous.call(.get, "/ui/")
            #expect(!page.body.contains("<script>") && !page.body.contains("style="), "no inline script or style")
            #expect(page.body.contains("<script src=\"/ui/console.js\" defer></script>"))
            #expect(try await anonymous.call(.get, "/ui/nothing.js").status == .notFound)
        }
    }

    /// The console is script over the status operation: every field it reads must be one the API answers.
    @Test func readsOnlyFieldsTheStatusOperationAnswers() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 1)
            try await fleet.ship(admin, tag: "2")
            #expect(try await admin.call(.post, fleet.rolloutPath).status == .ok)
            let status = try await admin.call(.get, fleet.rolloutPath)
            // What the API answers, with the optional fields it leaves out while they have no value (etaSeconds).
            var answered = Set((try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any] ?? [:]).keys)
            answered.formUnion(Mirror(reflecting: try status.decode(RolloutStatusResult.self)).children.compactMap(\.label))

            let script = try await api.as_(nil).call(.get, "/ui/console.js").body
            var read = Set(script.matches(of: /\bs\.([A-Za-z]+)/).map { String($0.output.1) })
            let parts = try #require(script.firstMatch(of: /const PARTS = \[([^\]]*)\]/))
            read.formUnion(parts.output.1.matches(of: /"([A-Za-z]+)"/).map { String($0.output.1) })
            #expect(read.count >= 15, "\(read)")
            #expect(read.subtracting(answered).isEmpty, "the console reads fields the API does not answer: \(read.subtracting(answered))")
        }
    }

    /// A client that polls the status is told 304 while nothing changed, and the new status once it did.
    @Test func theRolloutStatusAnswers304WhileItIsUnchanged() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 2)
            try await fleet.ship(admin, tag: "2")
            // No agent answers and the rollout is paused: its status stays still while it is asked.
            #expect(try await admin.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 1, instanceTimeoutSeconds: 3600)).status == .ok)
            #expect(try await admin.call(.post, fleet.rolloutPath + "/pause").status == .ok)
            let first = try await admin.call(.get, fleet.rolloutPath)
            let etag = try #require(first.headers[.eTag])
            #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count == 26)
            for asked in [etag, "W/" + etag, "\"other\", " + etag, "*"] {
                let again = try await admin.call(.get, fleet.rolloutPath, headers: [.ifNoneMatch: asked])
                #expect(again.status == .notModified, "If-None-Match: \(asked)")
                #expect(again.body.isEmpty)
                #expect(again.headers[.eTag] == etag)
            }
            let stale = try await admin.call(.get, fleet.rolloutPath, headers: [.ifNoneMatch: "\"other\""])
            #expect(stale.status == .ok && stale.body == first.body)
            #expect(try await admin.call(.post, fleet.rolloutPath + "/resume").status == .ok)
            let changed = try await admin.call(.get, fleet.rolloutPath, headers: [.ifNoneMatch: etag])
            #expect(changed.status == .ok)
            #expect(try changed.decode(RolloutStatusResult.self).status != "PAUSED")
            #expect(changed.headers[.eTag] != etag)
        }
    }

    /// The console's per-instance table asks the server for one status at a time.
    @Test func rolloutInstancesAreFilteredByStatus() async throws {
        try await withServer { api in
            let admin = try await api.signIn()
            let fleet = try await Fleet.make(admin, instances: 3)
            try await fleet.ship(admin, tag: "2")
            #expect(try await admin.call(.post, fleet.rolloutPath, json: RolloutPolicyRequest(maxConcurrentUpgrades: 1)).status == .ok)
            try await eventually("the first wave started") { try await fleet.status(admin).inProgress == 1 }
            func listed(_ query: String) async throws -> [String] {
                try await admin.call(.get, fleet.rolloutPath + "/instances" + query).decode(ListRolloutInstancesResult.self).instances.map(\.status)
            }
            #expect(try await listed("") == ["IN_PROGRESS", "PENDING", "PENDING"])
            #expect(try await listed("?status=PENDING") == ["PENDING", "PENDING"])
            #expect(try await listed("?status=in_progress") == ["IN_PROGRESS"])
            #expect(try await listed("?status=FAILED").isEmpty)
            #expect(try await listed("?status=PENDING&pageSize=1").count == 1)
            try await admin.call(.get, fleet.rolloutPath + "/instances?status=DONE").expectError(
                .badRequest, "bad_request",
                message: "status must be one of PENDING, IN_PROGRESS, COMPLETED, FAILED, SKIPPED, ROLLING_BACK, ROLLED_BACK, got 'DONE'")
        }
    }
}

@Suite("Logs as JSON lines")
struct JSONLogTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    @Test func eachLineIsOneObjectWhateverTheTextHolds() throws {
        let lines = Lines()
        var logger = Logger(label: "slipwayd") { JSONLogHandler(label: $0, sink: .init { lines.append($0) }) }
        logger[metadataKey: "replica"] = "a"
        logger.info("quote \" backslash \\ newline \n tab \t bell \u{7} end", metadata: ["path": "/x\"y", "message": "not the message"])
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false, "one line per event")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["message"] == "quote \" backslash \\ newline \n tab \t bell \u{7} end")
        #expect(object["level"] == "info")
        #expect(object["label"] == "slipwayd")
        #expect(object["path"] == "/x\"y")
        #expect(object["replica"] == "a")
        #expect(object["source"] == "SlipwayServerTests")
        #expect(try #require(object["time"]).wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil)
    }

    @Test func slipwaydWritesJSONWhenAskedAndRefusesAnUnknownFormat() async throws {
        let server = try await ServerProcess(database: temporaryDatabase(), environment: ["SLIPWAY_LOG_FORMAT": "json"])
        #expect(try await server.api.call(.get, "/healthz").status == .ok)
        #expect(try await server.api.call(.get, "/nope").status == .notFound)
        try await eventually("the request lines") { server.log.contains("\"path\":\"/nope\"") }
        await server.kill(SIGTERM)
        let objects = try server.log.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not a JSON object: \(line)")
        }
        #expect(objects.contains { $0["message"] == "request" && $0["path"] == "/healthz" && $0["status"] == "200" })
        #expect(objects.contains { $0["message"] == "request" && $0["path"] == "/nope" && $0["status"] == "404" && $0["error_id"] != nil })

        let (status, text) = try await ServerProcess.run(["--database", temporaryDatabase(), "--log-format", "yaml"])
        #expect(status == 64)
        #expect(text.contains("log format must be text or json, got 'yaml'"))
    }
}

extension APIClient {
    /// `slipway_rollout_engine_passes_total` from `/metrics`, half a second after the last wake-up and 2 s later.
    func enginePassesTwoSecondsApart() async throws -> (before: Int, after: Int) {
        func passes() async throws -> Int {
            let scrape = try await call(.get, "/metrics")
            let line = try #require(scrape.body.split(separator: "\n").first { $0.hasPrefix("slipway_rollout_engine_passes_total ") })
            return try #require(Int(line.split(separator: " ")[1]))
        }
        try await Task.sleep(for: .milliseconds(500))
        let before = try await passes()
        try await Task.sleep(for: .seconds(2))
        return (before, try await passes())
    }
}

extension Fleet {
    /// A rollout of one instance that no agent answers (nothing to do until its ten-minute timeout), started,
    /// paused and resumed: three wake-ups of the engine.
    static func wakeTheEngineThrice(_ api: APIClient) async throws {
        let fleet = try await Fleet.make(api, instances: 1)
        try await fleet.ship(api, tag: "2")
        for path in [fleet.rolloutPath, fleet.rolloutPath + "/pause", fleet.rolloutPath + "/resume"] {
            #expect(try await api.call(.post, path).status == .ok)
        }
    }
}
