import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Slipway

/// What the simulated agents share with `slipway-agent`.
enum SimulatedAgent {
    /// How long each long-poll waits for a change, as `slipway-agent` does by default.
    static let longPollSeconds = 30
}

/// Counts agents that applied something.
final class AppliedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

struct Fleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A fleet of simulated agents: the server's cost while they idle on long-polls, and while they report.")
    @OptionGroup var server: ServerOptions
    @Option var agents = 10_000
    @Option var duration = 10.0
    @Option(help: "Seconds between each agent's reports in the reporting phase.") var reportInterval = 10.0

    func run() async throws {
        let slipway = server.client()
        let fixture = try await Fixture.make(slipway)
        let tokens = try await fixture.register(agents, slipway: slipway)
        let applied = AppliedCounter()
        let fleet = try LeanFleet(tokens: tokens, servers: [server.server], applyTime: .zero, applied: applied)
        // The instances are registered and no agent is connected: what the server holds besides the connections.
        let unconnected = server.sample()
        do {
            try await fleet.start()
            // Idle: every agent holds a long-poll open, and asks again when it ends after 30 s. The window
            // spans a whole cycle, so those re-polls count however the agents' start times fall.
            let idleSeconds = max(duration, Double(SimulatedAgent.longPollSeconds) + 2)
            try await Task.sleep(for: .seconds(2))
            let before = server.sample()
            try await Task.sleep(for: .seconds(idleSeconds))
            let after = server.sample()
            var idle = Measurement(scenario: "fleet-idle@\(agents)")
            idle.seconds = idleSeconds
            idle.addServerUsage(from: before, to: after, over: idleSeconds)
            if let unconnected, let after {
                idle.extra["serverRssUnconnectedMiB"] = unconnected.rssMiB
                idle.extra["serverKiBPerConnection"] = (after.rssMiB - unconnected.rssMiB) * 1024 / Double(agents)
            }
            idle.print()

            // Reporting: each agent reports once every reportInterval seconds, spread evenly.
            let rate = Double(agents) / reportInterval
            let total = Int(rate * duration)
            // A real agent reports on its own connection, never waiting behind its long-poll: the reports
            // get a pool of their own rather than queueing for the connections the long-polls hold.
            let reportClient = makeClient(connections: 256)
            let reportBefore = server.sample()
            let started = monotonicMicros()
            let results = await withTaskGroup(of: (Latencies, Int).self) { reporters in
                let workers = min(256, total)
                for worker in 0..<workers {
                    reporters.addTask {
                        var latencies = newLatencies()
                        var errors = 0
                        for index in stride(from: worker, to: total, by: workers) {
                            // Open loop: each report goes at its scheduled time, whatever the last one took.
                            let due = started + UInt64(Double(index) / rate * 1_000_000)
                            let now = monotonicMicros()
                            if due > now { try? await Task.sleep(for: .microseconds(Int64(due - now))) }
                            let agent = AgentClient(serverURL: server.server, agentToken: tokens[index % tokens.count], httpClient: reportClient)
                            let began = monotonicMicros()
                            do {
                                try await agent.report(AgentReportRequest(tierVersion: "1.0", status: "SUCCEEDED", health: "healthy"))
                                _ = latencies.record(monotonicMicros() - began)
                            } catch {
                                errors += 1
                            }
                        }
                        return (latencies, errors)
                    }
                }
                var merged = newLatencies()
                var errors = 0
                for await (latencies, e) in reporters {
                    merged.add(latencies)
                    errors += e
                }
                return (merged, errors)
            }
            let elapsed = Double(monotonicMicros() - started) / 1_000_000
            let reportAfter = server.sample()
            var reporting = Measurement(scenario: "fleet-report@\(agents)", latencies: results.0, requests: Int(results.0.totalCount), errors: results.1, seconds: elapsed)
            reporting.addServerUsage(from: reportBefore, to: reportAfter, over: elapsed)
            reporting.print()
            try await reportClient.shutdown()
        }
        await fleet.stop()
    }
}

struct Rollout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A rollout to simulated instances that each take a fixed time to apply, against the ideal.")
    @OptionGroup var server: ServerOptions
    @Option var instances = 1000
    @Option var applyMs = 200
    @Option var maxConcurrent = 500
    @Option(help: "waves or window.") var strategy = "waves"
    @Option(help: "A replica the agents talk to (repeat it: agents are spread over them in turn); default: --server.")
    var agentServer: [String] = []

    func run() async throws {
        let slipway = server.client()
        let fixture = try await Fixture.make(slipway)
        let tokens = try await fixture.register(instances, slipway: slipway)
        let applied = AppliedCounter()
        let fleet = try LeanFleet(
            tokens: tokens, servers: agentServer.isEmpty ? [server.server] : agentServer, applyTime: .milliseconds(applyMs), applied: applied)
        do {
            try await fleet.start()
            try await slipway.updateImageConfig(serviceId: fixture.service, id: fixture.imageConfig, UpdateImageConfigRequest(imageTag: "2"))
            try await slipway.releaseImageConfig(serviceId: fixture.service, id: fixture.imageConfig)
            var peakRss = server.sample()?.rssMiB ?? 0
            let cpuBefore = server.sample()?.cpuSeconds ?? 0
            // The simulated fleet lives in this process: its CPU competes with the server's for the same cores.
            let fleetCpuBefore = ProcessSample.of(pid: getpid())?.cpuSeconds ?? 0
            let started = monotonicMicros()
            let status = try await slipway.rolloutFleetImageConfig(
                serviceId: fixture.service, id: fixture.imageConfig, policy: RolloutPolicyRequest(maxConcurrentUpgrades: maxConcurrent, strategy: strategy))
            var last = status
            while !["COMPLETE", "FAILED", "CANCELLED"].contains(last.status) {
                try await Task.sleep(for: .milliseconds(20))
                last = try await slipway.rolloutFleetImageStatus(serviceId: fixture.service, id: fixture.imageConfig)
                if let sample = server.sample() { peakRss = max(peakRss, sample.rssMiB) }
            }
            let wall = Double(monotonicMicros() - started) / 1_000_000
            let waves = (instances + maxConcurrent - 1) / maxConcurrent
            let ideal = Double(waves) * Double(applyMs) / 1000
            let serverCpu = (server.sample()?.cpuSeconds ?? 0) - cpuBefore
            let fleetCpu = (ProcessSample.of(pid: getpid())?.cpuSeconds ?? 0) - fleetCpuBefore
            // Either way the agents' own time bounds it: every slot applies one instance after another.
            var measurement = Measurement(scenario: strategy == "waves" ? "rollout@\(instances)" : "rollout-\(strategy)@\(instances)")
            measurement.seconds = wall
            measurement.requests = last.completed
            measurement.errors = last.failed
            measurement.extra = [
                "wallSeconds": wall, "idealSeconds": ideal, "ratio": wall / ideal, "waves": Double(waves),
                "overheadMsPerInstance": (wall - ideal) * 1000 / Double(instances), "serverPeakRssMiB": peakRss,
                "serverCpuSeconds": serverCpu, "fleetCpuSeconds": fleetCpu,
                "serverCpuMsPerInstance": serverCpu * 1000 / Double(instances),
                // With every core busy, the rollout cannot end sooner than this.
                "cpuFloorSeconds": (serverCpu + fleetCpu) / Double(ProcessInfo.processInfo.activeProcessorCount),
            ]
            measurement.print()
        }
        await fleet.stop()
    }
}

extension Measurement {
    /// The server's CPU (% of one core) and memory over a phase, from samples at its start and end.
    mutating func addServerUsage(from before: ProcessSample?, to after: ProcessSample?, over seconds: Double) {
        guard let before, let after else { return }
        extra["serverCpuPercent"] = (after.cpuSeconds - before.cpuSeconds) / seconds * 100
        extra["serverRssMiB"] = after.rssMiB
    }
}
