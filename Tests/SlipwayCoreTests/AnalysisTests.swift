import Foundation
import SlipwayCore
import Testing

/// Rollout analysis without a network: conditions, JSON paths, Prometheus answers, and the rules that wait for
/// a passing measurement after each wave and halt on failures.
@Suite("Rollout analysis")
struct AnalysisTests {
    static let t0 = RolloutEventTests.t0

    @Test func conditionsCompareNumbersAndText() throws {
        #expect(try SuccessCondition("result < 0.01").holds(for: .number(0.005)))
        #expect(try !SuccessCondition("result < 0.01").holds(for: .number(0.05)))
        #expect(try SuccessCondition("result >= 3").holds(for: .text("3")))
        #expect(try SuccessCondition(#"result == "ok""#).holds(for: .text("ok")))
        #expect(try SuccessCondition("result == ok").holds(for: .text("ok")))
        #expect(try SuccessCondition("result != true").holds(for: .bool(false)))
        #expect(throws: SlipwayError.badRequest(
            "analysis.successCondition must be 'result <op> <value>' with <, <=, >, >=, == or !=, such as result < 0.01; got 'errors < 1'")) {
            try SuccessCondition("errors < 1")
        }
        #expect(throws: SlipwayError.self) { try SuccessCondition("result < ok") }
    }

    @Test func aJSONPathFindsAValue() throws {
        let body = Data(#"{"checks": [{"status": "ok", "latency": 12.5}], "healthy": true}"#.utf8)
        #expect(try JSONPath("$.checks[0].status").value(in: body) == .text("ok"))
        #expect(try JSONPath("$.checks[0].latency").value(in: body) == .number(12.5))
        #expect(try JSONPath("$.healthy").value(in: body) == .bool(true))
        #expect(try JSONPath("$.checks[3]").value(in: body) == nil)
        #expect(throws: SlipwayError.self) { try JSONPath("checks.status") }
    }

    @Test func measurementsAreJudged() {
        let http = RolloutAnalysis(url: "http://checks/health", jsonPath: "$.errorRate", successCondition: "result < 0.01")
        #expect(http.judge(status: 200, body: Data(#"{"errorRate": 0.002}"#.utf8)) == (true, "GET http://checks/health answered 200: $.errorRate = 0.002, meets result < 0.01"))
        #expect(http.judge(status: 200, body: Data(#"{"errorRate": 0.2}"#.utf8)).passed == false)
        #expect(http.judge(status: 503, body: Data()) == (false, "GET http://checks/health answered 503, expected 200"))
        let prometheus = RolloutAnalysis(prometheusUrl: "http://prometheus:9090", query: "sum(rate(errors[5m]))", successCondition: "result < 0.01")
        let vector = #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.1,"0.05"]}]}}"#
        #expect(prometheus.judge(status: 200, body: Data(vector.utf8))
            == (false, "the Prometheus query sum(rate(errors[5m])): result = 0.05, expected result < 0.01"))
        let empty = #"{"status":"success","data":{"resultType":"vector","result":[]}}"#
        #expect(prometheus.judge(status: 200, body: Data(empty.utf8)) == (false, "the Prometheus query sum(rate(errors[5m])) returned no sample"))
    }

    @Test func anAnalysisIsChecked() {
        func check(_ analysis: RolloutAnalysis) throws { try analysis.validate() }
        #expect(throws: SlipwayError.badRequest("analysis must give either url (an HTTP check) or prometheusUrl and query (a Prometheus query)")) {
            try check(RolloutAnalysis())
        }
        #expect(throws: SlipwayError.badRequest("analysis.url must be an http or https URL, got 'file:///etc/passwd'")) {
            try check(RolloutAnalysis(url: "file:///etc/passwd"))
        }
        #expect(throws: SlipwayError.badRequest("analysis.successCondition must say what a good result is, such as result < 0.01")) {
            try check(RolloutAnalysis(prometheusUrl: "http://prometheus:9090", query: "up"))
        }
        #expect(throws: SlipwayError.badRequest("analysis.intervalSeconds must be from 5 to 3600, got 1")) {
            try check(RolloutAnalysis(url: "http://x/health", intervalSeconds: 1))
        }
    }

    static func analysed(_ change: (inout RolloutPolicy) -> Void = { _ in }) -> RolloutPolicy {
        RolloutEventTests.policy {
            $0.maxConcurrentUpgrades = 1
            $0.analysis = RolloutAnalysis(url: "http://checks/health", intervalSeconds: 30, failureLimit: 2)
            change(&$0)
        }
    }

    @Test func theNextWaveWaitsForAPassingMeasurement() {
        var run = RolloutEventTests.Run(instances: 2, policy: Self.analysed())
        run.advance()
        #expect(run.machine.rollout.nextAnalysisAt == Self.t0, "measured as it starts")
        // A pass while the wave is in flight says nothing about the wave.
        run.machine.analysisMeasured(passed: true, text: "GET http://checks/health answered 200", now: Self.t0)
        #expect(run.machine.rollout.analyzedThroughWave == nil && run.machine.rollout.nextAnalysisAt == Self.t0.addingTimeInterval(30))
        _ = run.report(0, .succeeded)
        run.advance(now: Self.t0.addingTimeInterval(1))
        #expect(run.machine.rollout.message == "wave 1 is done: the next waits for a passing analysis measurement")
        #expect(run.machine.rollout.nextAnalysisAt == Self.t0.addingTimeInterval(1), "measured at once")
        #expect(run.desired["inst-1"] == "1.0")
        let work = run.machine.analysisMeasured(passed: true, text: "ok", now: Self.t0.addingTimeInterval(2))
        #expect(work, "the engine has work")
        run.advance(now: Self.t0.addingTimeInterval(2))
        #expect(run.desired["inst-1"] == "2.0")
    }

    @Test func failedMeasurementsHaltTheRolloutAndRollBack() {
        var run = RolloutEventTests.Run(instances: 3, policy: Self.analysed { $0.autoRollback = true })
        run.advance()
        let first = run.machine.analysisMeasured(passed: false, text: "GET http://checks/health answered 503, expected 200", now: Self.t0)
        #expect(!first && run.machine.rollout.analysisFailures == 1 && run.machine.rollout.status == .running)
        let second = run.machine.analysisMeasured(passed: false, text: "GET http://checks/health answered 503, expected 200", now: Self.t0)
        #expect(second)
        run.advance()
        #expect(run.machine.rollout.status == .running, "the instance in flight finishes first")
        _ = run.report(0, .succeeded)
        run.advance()
        #expect(run.machine.rollout.status == .failed && run.machine.rollout.rollback == .running)
        #expect(run.machine.rollout.message
            == "failed: the analysis failed 2 time(s) (GET http://checks/health answered 503, expected 200); 2 instance(s) were not started; "
                + "rolling back 1 upgraded instance(s) to their source version")
        #expect(run.desired["inst-0"] == "1.0" && run.machine.rollout.nextAnalysisAt == nil)
        _ = run.report(0, .succeeded, version: "1.0")
        run.advance()
        #expect(run.machine.rollout.message.hasSuffix("; rolled back 1 upgraded instance(s) to their source version"))
        #expect(run.countsMatchRows)
    }
}
