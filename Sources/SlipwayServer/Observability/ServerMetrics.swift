import Foundation
import Hummingbird
import Prometheus
import SlipwayCore
import SlipwayEngine
import Synchronization

/// What `GET /metrics` shows, in the Prometheus text format.
///
/// Requests are counted as they happen, labelled by route pattern (never by raw path, so ids cannot
/// grow the label set); the fleet, the long-polls and the process are read when Prometheus scrapes.
/// Every number is across organizations: the endpoint is for the operator, not for tenants.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let fleet: any FleetStore
    private let notifier: DesiredStateNotifier
    private let engine: RolloutEngine
    /// The process CPU time and the engine passes already added to their counters.
    private let cpuCounted = Mutex<Double>(0)
    private let passesCounted = Mutex<Int>(0)

    /// The counter and histogram of each kind of request, made once: the registry validates the name and
    /// help text and builds the label key on every `make…` call, which does not belong on every request.
    private struct RequestSeries: Hashable {
        let method: String
        let route: String
        let status: Int
    }
    private let requestSeries = Mutex<[RequestSeries: (count: Counter, duration: DurationHistogram)]>([:])

    /// Latency buckets from a cached read (well under a millisecond) to a whole long-poll (up to 60 s).
    private static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        .seconds(10), .seconds(30), .seconds(60),
    ]

    /// The counters of agent reports and of Describe/List answers, made once for the same reason.
    private let reportCounters: [AgentReportStatus: Counter]
    private let keptAnswers: Counter
    private let databaseAnswers: Counter

    init(fleet: any FleetStore, notifier: DesiredStateNotifier, engine: RolloutEngine) {
        self.fleet = fleet
        self.notifier = notifier
        self.engine = engine
        var reportCounters: [AgentReportStatus: Counter] = [:]
        for status in AgentReportStatus.allCases {
            reportCounters[status] = registry.makeCounter(
                name: "slipway_agent_reports_total", labels: [("status", status.rawValue)], help: "Agent reports accepted, by status.")
        }
        self.reportCounters = reportCounters
        let registry = registry
        func answers(_ source: String) -> Counter {
            registry.makeCounter(
                name: "slipway_catalog_answers_total", labels: [("source", source)], help: "Describe and List answers, by whether a kept answer served them.")
        }
        keptAnswers = answers("kept")
        databaseAnswers = answers("database")
    }

    /// One finished request. `route` is the matched pattern (Hummingbird names requests that match none `NotFound`).
    func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        let key = RequestSeries(method: method, route: route, status: status)
        let series = requestSeries.withLock { known in
            if let series = known[key] { return series }
            let series = (
                count: registry.makeCounter(
                    name: "slipway_http_requests_total", labels: [("method", method), ("route", route), ("status", String(status))],
                    help: "HTTP requests answered, by method, route pattern and status."),
                duration: registry.makeDurationHistogram(
                    name: "slipway_http_request_duration_seconds", labels: [("method", method), ("route", route)], buckets: Self.durationBuckets,
                    help: "Time from a request's arrival to its response, long-polls included.")
            )
            known[key] = series
            return series
        }
        series.count.increment()
        series.duration.record(duration)
    }

    /// One agent report accepted, by the status it reported.
    func recordReport(status: AgentReportStatus) {
        reportCounters[status]?.increment()
    }

    /// One Describe or List answer, from the kept answers or not.
    func recordCatalogAnswer(kept: Bool) {
        (kept ? keptAnswers : databaseAnswers).increment()
    }

    /// The exposition: the counters above plus what is read now.
    func scrape() async throws -> ByteBuffer {
        let summary = try await fleet.fleetSummary()
        registry.makeGauge(name: "slipway_instances", help: "Registered instances.").set(Double(summary.instances))
        for status in RolloutStatus.allCases {
            registry.makeGauge(name: "slipway_rollouts", labels: [("status", status.rawValue)], help: "Rollouts, by status.")
                .set(Double(summary.rolloutsByStatus[status] ?? 0))
        }
        registry.makeGauge(name: "slipway_agent_long_polls", help: "Agents waiting on a long-poll now.").set(Double(await notifier.waiting))
        let passes = await engine.passes
        let newPasses = passesCounted.withLock { counted in
            defer { counted = max(counted, passes) }
            return max(0, passes - counted)
        }
        registry.makeCounter(
            name: "slipway_rollout_engine_passes_total",
            help: "Times the rollout engine woke: on a wake-up (a report, a new rollout, a pause), a deadline, or its 30 s safety net."
        ).increment(by: Int64(newPasses))
        if let process = ProcessStatistics.current() {
            registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.").set(process.residentBytes)
            let spent = cpuCounted.withLock { counted in
                defer { counted = max(counted, process.cpuSeconds) }
                return max(0, process.cpuSeconds - counted)
            }
            registry.makeCounter(name: "process_cpu_seconds_total", help: "User and system CPU time spent, in seconds.").increment(by: spent)
            registry.makeGauge(name: "process_open_fds", help: "Open file descriptors.").set(process.openDescriptors)
        }
        return ByteBuffer(bytes: registry.emitToBuffer())
    }
}

/// The process's own numbers, from /proc (Linux); nil where /proc is not there.
struct ProcessStatistics {
    var residentBytes: Double
    var cpuSeconds: Double
    var openDescriptors: Double

    static func current() -> ProcessStatistics? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // The fields after the command name (which is in parentheses and may hold spaces): state is [0].
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 22, let user = Double(fields[11]), let system = Double(fields[12]), let pages = Double(fields[21]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return ProcessStatistics(residentBytes: pages * pageSize, cpuSeconds: (user + system) / ticks, openDescriptors: Double(descriptors))
    }
}
