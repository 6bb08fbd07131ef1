import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import NIOHTTP1

/// What one scenario measured. Printed as one JSON line; `scripts/bench.sh` turns the lines into a table.
struct Measurement: Codable {
    var scenario: String
    var requests: Int = 0
    var seconds: Double = 0
    var requestsPerSecond: Double = 0
    var p50Ms: Double = 0
    var p99Ms: Double = 0
    var p999Ms: Double = 0
    var errors: Int = 0
    var extra: [String: Double] = [:]

    func print() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        Swift.print(String(decoding: try! encoder.encode(self), as: UTF8.self))
        fflush(nil)
    }
}

/// Latencies in microseconds.
typealias Latencies = Histogram<UInt64>

func newLatencies() -> Latencies { Histogram(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three) }

extension Measurement {
    init(scenario: String, latencies: Latencies, requests: Int, errors: Int, seconds: Double) {
        self.scenario = scenario
        self.requests = requests
        self.errors = errors
        self.seconds = seconds
        requestsPerSecond = Double(requests) / seconds
        p50Ms = Double(latencies.valueAtPercentile(50)) / 1000
        p99Ms = Double(latencies.valueAtPercentile(99)) / 1000
        p999Ms = Double(latencies.valueAtPercentile(99.9)) / 1000
    }
}

/// An HTTP client with room for as many keep-alive connections as the scenario needs.
func makeClient(connections: Int) -> HTTPClient {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
    configuration.timeout = .init(connect: .seconds(30))
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}

func monotonicMicros() -> UInt64 { DispatchTime.now().uptimeNanoseconds / 1000 }

/// A closed loop: `connections` workers, each sending its next request when the last one answered.
/// Only requests started after the warm-up count.
func closedLoop(
    scenario: String, client: HTTPClient, connections: Int, warmup: Double, duration: Double,
    request: @escaping @Sendable (Int) -> HTTPClientRequest, expect: HTTPResponseStatus = .ok
) async -> Measurement {
    let start = monotonicMicros()
    let measureFrom = start + UInt64(warmup * 1_000_000)
    let end = measureFrom + UInt64(duration * 1_000_000)
    let counter = Counter()
    let results = await withTaskGroup(of: (Latencies, Int, Int).self) { group in
        for _ in 0..<connections {
            group.addTask {
                var latencies = newLatencies()
                var count = 0
                var errors = 0
                while true {
                    let began = monotonicMicros()
                    if began >= end { break }
                    var ok = false
                    do {
                        let response = try await client.execute(request(counter.next()), timeout: .seconds(60))
                        _ = try await response.body.collect(upTo: 16 << 20)
                        ok = response.status == expect
                    } catch {}
                    let finished = monotonicMicros()
                    if began >= measureFrom {
                        if ok {
                            _ = latencies.record(finished - began)
                            count += 1
                        } else {
                            errors += 1
                        }
                    }
                }
                return (latencies, count, errors)
            }
        }
        var merged = newLatencies()
        var count = 0
        var errors = 0
        for await (latencies, n, e) in group {
            merged.add(latencies)
            count += n
            errors += e
        }
        return (merged, count, errors)
    }
    return Measurement(scenario: scenario, latencies: results.0, requests: results.1, errors: results.2, seconds: duration)
}

/// A shared counter for request bodies that must differ.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
}

/// CPU seconds and resident memory of a process, from /proc.
struct ProcessSample {
    var cpuSeconds: Double
    var rssMiB: Double

    static func of(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        else { return nil }
        // Fields after the command name, which is in parentheses and may contain spaces.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        let rssKiB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        return ProcessSample(cpuSeconds: ticks / Double(sysconf(Int32(_SC_CLK_TCK))), rssMiB: rssKiB / 1024)
    }
}
