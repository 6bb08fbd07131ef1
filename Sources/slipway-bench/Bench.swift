import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import SlipwayStorage
import GRDB
import Hummingbird
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Slipway
import Synchronization

/// `slipway-bench`: the load tool behind `scripts/bench.sh`. Each scenario prints one JSON line.
@main
struct SlipwayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slipway-bench", abstract: "Measures Slipway: reads, durable writes, a fleet of agents, rollouts.",
        subcommands: [Ceiling.self, Reads.self, Writes.self, SQLiteInserts.self, PostgresInserts.self, Fleet.self, Hold.self, Rollout.self, Register.self])
}

/// Where the server is and who the bench signs in as.
struct ServerOptions: ParsableArguments {
    @Option(help: "The slipwayd under test.") var server = "http://127.0.0.1:8080"
    @Option var email = "bench@example.com"
    @Option var password = "bench-password-1"
    @Option(help: "slipwayd's pid, to sample its CPU and memory (repeat it for replicas: their sum).") var pid: [Int32] = []

    func client() -> SlipwayClient {
        SlipwayClient(serverURL: server, credentials: .password(email: email, password: password))
    }

    /// slipwayd's CPU time and memory now, summed over its replicas; nil without `--pid`.
    func sample() -> ProcessSample? {
        let samples = pid.compactMap(ProcessSample.of)
        guard !samples.isEmpty else { return nil }
        return ProcessSample(cpuSeconds: samples.map(\.cpuSeconds).reduce(0, +), rssMiB: samples.map(\.rssMiB).reduce(0, +))
    }
}

/// A service, environment, tier and released image config to measure against.
struct Fixture {
    var service: String
    var environment: String
    var tier: String
    var imageConfig: String

    static func make(_ slipway: SlipwayClient) async throws -> Fixture {
        let name = "bench-\(UUID().uuidString.prefix(8))"
        let service = try await slipway.createService(CreateServiceRequest(name: name))
        let environment = try await slipway.createEnvironment(serviceId: service, CreateServiceEnvironmentRequest(name: "prod", type: "prod"))
        let tier = try await slipway.createProductTier(serviceId: service, CreateProductTierRequest(name: "basic", serviceEnvironmentId: environment))
        let imageConfig = try await slipway.createImageConfig(
            serviceId: service,
            CreateImageConfigRequest(
                description: "the benchmark's image", imageName: "acme/app", serviceEnvironmentId: environment, imageTag: "1",
                customImageCommandsAndArgs: .init(args: ["--port", "5432"], commands: ["app"])))
        try await slipway.releaseImageConfig(serviceId: service, id: imageConfig)
        return Fixture(service: service, environment: environment, tier: tier, imageConfig: imageConfig)
    }

    /// Registers `count` instances, `parallel` at a time; returns their agent tokens.
    func register(_ count: Int, slipway: SlipwayClient, parallel: Int = 32) async throws -> [String] {
        try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<parallel {
                group.addTask {
                    var tokens: [String] = []
                    for index in stride(from: worker, to: count, by: parallel) {
                        let result = try await slipway.registerInstance(
                            serviceId: service, environmentId: environment, RegisterInstanceRequest(productTierId: tier, name: "node-\(index)"))
                        tokens.append(result.agentToken)
                    }
                    return tokens
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }
}

struct Ceiling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A bare Hummingbird server that answers fixed JSON bytes: the framework's ceiling.")
    @Option var port = 8090
    @Option(help: "File with the bytes GET /describe answers.") var describeFile: String
    @Option(help: "File with the bytes GET /list answers.") var listFile: String

    func run() async throws {
        let describe = ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: describeFile)))
        let list = ByteBuffer(bytes: try Data(contentsOf: URL(fileURLWithPath: listFile)))
        let router = Router()
        router.get("describe") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: describe)) }
        router.get("list") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: list)) }
        // A request that stays in flight until the server stops, as a long-poll does: the framework's own cost of
        // holding one, beside what slipwayd's long-polls cost.
        // (Ended when the server stops, so that it can.)
        let held = Held()
        router.get("hold") { _, _ in
            await withGracefulShutdownHandler {
                await withCheckedContinuation { continuation in held.add(continuation) }
            } onGracefulShutdown: {
                held.endAll()
            }
            return Response(status: .noContent)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
    }
}

/// The ceiling's requests held open, until the server stops.
final class Held: Sendable {
    private let state = Mutex<(waiting: [CheckedContinuation<Void, Never>], ended: Bool)>(([], false))

    func add(_ continuation: CheckedContinuation<Void, Never>) {
        let ended = state.withLock { state in
            if !state.ended { state.waiting.append(continuation) }
            return state.ended
        }
        if ended { continuation.resume() }
    }

    func endAll() {
        let waiting = state.withLock { state in
            state.ended = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}

/// What the bare framework holds per connection with a request in flight: `connections` connections to the
/// ceiling server's `GET /hold`, which answers only when the server stops. The yardstick of an idle long-poll.
struct Hold: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Memory per connection of the ceiling server holding a request open on each.")
    @Option(help: "The ceiling server's base URL.") var ceiling = "http://127.0.0.1:8090"
    @Option(help: "The ceiling server's pid, to read its memory.") var pid: Int32
    @Option var connections = 10_000

    func run() async throws {
        let endpoint = try Endpoint(ceiling)
        let group = MultiThreadedEventLoopGroup.singleton
        let request = ByteBuffer(string: "GET /hold HTTP/1.1\r\nHost: \(endpoint.host)\r\n\r\n")
        let before = ProcessSample.of(pid: pid)
        var channels: [any Channel] = []
        for batch in stride(from: 0, to: connections, by: 256) {
            let futures = (batch..<min(batch + 256, connections)).map { _ in
                ClientBootstrap(group: group).connect(host: endpoint.host, port: endpoint.port).flatMap { channel in
                    channel.writeAndFlush(request).map { channel }
                }
            }
            for future in futures { channels.append(try await future.get()) }
        }
        try await Task.sleep(for: .seconds(3))
        let after = ProcessSample.of(pid: pid)
        var measurement = Measurement(scenario: "ceiling-hold@\(connections)")
        if let before, let after {
            measurement.extra = ["serverRssMiB": after.rssMiB, "serverKiBPerConnection": (after.rssMiB - before.rssMiB) * 1024 / Double(connections)]
        }
        measurement.print()
        for channel in channels { try? await channel.close() }
    }
}

struct Reads: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe and List at several connection counts, and the ceiling's same bytes.")
    @OptionGroup var server: ServerOptions
    @Option(help: "The ceiling server's base URL.") var ceiling = "http://127.0.0.1:8090"
    @Option(parsing: .upToNextOption) var connections: [Int] = [1, 16, 64, 256]
    @Option var warmup = 2.0
    @Option var duration = 10.0
    @Option(help: "Write the Describe and List bodies here, for the ceiling.") var saveBodiesTo: String?

    func run() async throws {
        let slipway = server.client()
        let fixture = try await Fixture.make(slipway)
        let token = try await slipway.currentToken() ?? ""
        let describeURL = "\(server.server)/2022-09-01-00/service/\(fixture.service)/image-config/\(fixture.imageConfig)"
        let listURL = "\(server.server)/2022-09-01-00/service/\(fixture.service)/serviceenvironment/\(fixture.environment)/image-config"
        if let saveBodiesTo {
            // The ceiling answers exactly what the real operations answer.
            let probe = makeClient(connections: 1)
            for (url, name) in [(describeURL, "describe.json"), (listURL, "list.json")] {
                var request = HTTPClientRequest(url: url)
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                let body = try await probe.execute(request, timeout: .seconds(10)).body.collect(upTo: 1 << 20)
                try Data(buffer: body).write(to: URL(fileURLWithPath: saveBodiesTo).appendingPathComponent(name))
            }
            try await probe.shutdown()
            return
        }
        for count in connections {
            for (name, url, auth) in [
                ("describe", describeURL, true), ("ceiling-describe", "\(ceiling)/describe", false), ("list", listURL, true),
                ("ceiling-list", "\(ceiling)/list", false),
            ] {
                let client = makeClient(connections: count)
                var request = HTTPClientRequest(url: url)
                if auth { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                let fixed = request
                var measurement = await closedLoop(
                    scenario: "\(name)@\(count)", client: client, connections: count, warmup: warmup, duration: duration) { _ in fixed }
                measurement.extra["connections"] = Double(count)
                measurement.print()
                try await client.shutdown()
            }
        }
    }
}

struct Writes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Durable Create and Update throughput.")
    @OptionGroup var server: ServerOptions
    @Option var connections = 16
    @Option var warmup = 2.0
    @Option var duration = 10.0

    func run() async throws {
        let slipway = server.client()
        let fixture = try await Fixture.make(slipway)
        let token = try await slipway.currentToken() ?? ""
        let client = makeClient(connections: connections)
        let base = "\(server.server)/2022-09-01-00/service/\(fixture.service)/image-config"
        let create = await closedLoop(scenario: "create", client: client, connections: connections, warmup: warmup, duration: duration) { n in
            var request = HTTPClientRequest(url: base)
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(
                ByteBuffer(string: #"{"description":"bench","imageName":"acme/app-\#(n)","imageTag":"v1","serviceEnvironmentId":"\#(fixture.environment)"}"#))
            return request
        }
        create.print()
        let update = await closedLoop(scenario: "update", client: client, connections: connections, warmup: warmup, duration: duration) { n in
            var request = HTTPClientRequest(url: "\(base)/\(fixture.imageConfig)")
            request.method = .PATCH
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: #"{"imageTag":"v\#(n)"}"#))
            return request
        }
        update.print()
        try await client.shutdown()
    }
}

struct SQLiteInserts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sqlite-inserts",
        abstract: "Raw SQLite inserts, one transaction each, with slipwayd's journal and sync settings (WAL, synchronous=FULL).")
    @Option var path: String
    @Option var warmup = 2.0
    @Option var duration = 10.0

    func run() async throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try await pool.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS rows (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, name TEXT, tag TEXT, body TEXT)")
        }
        let (latencies, count) = try await measuredLoop(warmup: warmup, duration: duration) { row in
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO rows (id, name, tag, body) VALUES (?, ?, ?, ?)",
                    arguments: ["imgc-\(UUID().uuidString.prefix(12))", "acme/app-\(row)", "v1", String(repeating: "x", count: 200)])
            }
        }
        Measurement(scenario: "sqlite-insert", latencies: latencies, requests: count, errors: 0, seconds: duration).print()
    }
}

struct PostgresInserts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres-inserts",
        abstract: "Raw PostgreSQL inserts of the same rows, one transaction each, over one connection (the server's fsync settings).")
    @Option var url: String
    @Option var warmup = 2.0
    @Option var duration = 10.0

    func run() async throws {
        let options = try PostgresOptions(url: url)
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: options.host, port: options.port, username: options.username, password: options.password,
                database: options.database, tls: .disable),
            id: 1, logger: Logger(label: "bench"))
        try await connection.query(
            "CREATE TABLE IF NOT EXISTS bench_rows (seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, id TEXT UNIQUE, name TEXT, tag TEXT, body TEXT)",
            logger: Logger(label: "bench"))
        let body = String(repeating: "x", count: 200)
        let (latencies, count) = try await measuredLoop(warmup: warmup, duration: duration) { row in
            let id = "imgc-\(UUID().uuidString.prefix(12))", name = "acme/app-\(row)"
            try await connection.query("INSERT INTO bench_rows (id, name, tag, body) VALUES (\(id), \(name), 'v1', \(body))", logger: Logger(label: "bench"))
        }
        try await connection.close()
        Measurement(scenario: "postgres-insert", latencies: latencies, requests: count, errors: 0, seconds: duration).print()
    }
}

/// Runs `insert` (given its sequence number) one at a time for `warmup` then `duration` seconds; returns the
/// latencies and count of the measured part.
func measuredLoop(warmup: Double, duration: Double, _ insert: (Int) async throws -> Void) async throws -> (Latencies, Int) {
    let start = monotonicMicros()
    let measureFrom = start + UInt64(warmup * 1_000_000)
    let end = measureFrom + UInt64(duration * 1_000_000)
    var latencies = newLatencies()
    var count = 0
    var n = 0
    while true {
        let began = monotonicMicros()
        if began >= end { break }
        n += 1
        try await insert(n)
        if began >= measureFrom {
            _ = latencies.record(monotonicMicros() - began)
            count += 1
        }
    }
    return (latencies, count)
}

struct Register: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Registers instances (no agents), then samples the server's memory.")
    @OptionGroup var server: ServerOptions
    @Option var instances = 100_000
    @Flag(help: "Then roll a new release out to all of them while image configs are created one after another: how long a plan holds up other writes.")
    var planRollout = false

    func run() async throws {
        let slipway = server.client()
        let fixture = try await Fixture.make(slipway)
        let started = monotonicMicros()
        _ = try await fixture.register(instances, slipway: slipway, parallel: 64)
        let seconds = Double(monotonicMicros() - started) / 1_000_000
        // Listing touches every instance once, as an operator would.
        var pages = 0
        var token: String?
        repeat {
            let page = try await slipway.listInstances(serviceId: fixture.service, environmentId: fixture.environment, pageSize: 1000, nextPageToken: token)
            token = page.nextPageToken
            pages += 1
        } while token != nil
        var measurement = Measurement(scenario: "register@\(instances)")
        measurement.requests = instances
        measurement.seconds = seconds
        measurement.requestsPerSecond = Double(instances) / seconds
        measurement.extra["pages"] = Double(pages)
        if let sample = server.sample() { measurement.extra["serverRssMiB"] = sample.rssMiB }
        measurement.print()
        if planRollout { try await measurePlan(fixture, slipway: slipway) }
    }

    /// Creates image configs back to back for 3 s alone, then while the rollout of every instance is being
    /// planned; prints both latency distributions and how long creating the rollout took.
    func measurePlan(_ fixture: Fixture, slipway: SlipwayClient) async throws {
        let creates = Mutex(0)
        @Sendable func createOne() async throws -> UInt64 {
            let n = creates.withLock { count in
                count += 1
                return count
            }
            let began = monotonicMicros()
            _ = try await slipway.createImageConfig(
                serviceId: fixture.service,
                CreateImageConfigRequest(description: "meanwhile", imageName: "acme/side-\(n)", serviceEnvironmentId: fixture.environment, imageTag: "1"))
            return monotonicMicros() - began
        }
        var alone = newLatencies()
        let aloneUntil = monotonicMicros() + 3_000_000
        while monotonicMicros() < aloneUntil { _ = alone.record(try await createOne()) }

        try await slipway.updateImageConfig(serviceId: fixture.service, id: fixture.imageConfig, UpdateImageConfigRequest(imageTag: "2"))
        try await slipway.releaseImageConfig(serviceId: fixture.service, id: fixture.imageConfig)
        let planning = Mutex(true)
        let began = monotonicMicros()
        async let rollout = { () async throws -> (UInt64, RolloutStatusResult) in
            defer { planning.withLock { $0 = false } }
            let result = try await slipway.rolloutFleetImageConfig(serviceId: fixture.service, id: fixture.imageConfig)
            return (monotonicMicros() - began, result)
        }()
        var during = newLatencies()
        var longest: UInt64 = 0
        while planning.withLock({ $0 }) {
            let took = try await createOne()
            _ = during.record(took)
            longest = max(longest, took)
        }
        let (rolloutMicros, status) = try await rollout
        var measurement = Measurement(scenario: "plan@\(instances)", latencies: during, requests: Int(during.totalCount), errors: 0,
            seconds: Double(rolloutMicros) / 1_000_000)
        measurement.extra["rolloutInstances"] = Double(status.total)
        measurement.extra["createAloneP50Ms"] = Double(alone.valueAtPercentile(50)) / 1000
        measurement.extra["createAloneP99Ms"] = Double(alone.valueAtPercentile(99)) / 1000
        measurement.extra["createAloneMaxMs"] = Double(alone.max) / 1000
        measurement.extra["createDuringMaxMs"] = Double(longest) / 1000
        measurement.print()
    }
}
