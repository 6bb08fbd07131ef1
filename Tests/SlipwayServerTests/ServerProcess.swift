import Foundation
import SlipwayTestSupport
import SlipwayWire
import Testing

/// Runs `executable` with `arguments` to its end, on a thread of its own: its exit status and everything it
/// wrote (standard output and error). `environment` replaces the inherited one when given.
func runToEnd(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
    try await onOwnThread {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
}

/// A real `slipwayd` process on 127.0.0.1, for what only a process can show: SIGKILL, SIGTERM, restarts.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let database: String
    let port: Int
    private let output = Pipe()
    private let logLock = NSLock()
    private var logText = ""
    /// Everything the server has written so far (standard output and error).
    var log: String { logLock.withLock { logText } }

    /// The built `slipwayd` next to the test bundle.
    static var executable: URL {
        builtProduct("slipwayd")
    }

    /// Starts `slipwayd` on `database`; port 0 picks a free port.
    init(database: String, port: Int = 0, environment: [String: String] = [:]) async throws {
        self.database = database
        process.executableURL = Self.executable
        process.arguments = ["--port", String(port), "--database", database]
        var env = ProcessInfo.processInfo.environment
        env["SLIPWAY_ADMIN_EMAIL"] = adminEmail
        env["SLIPWAY_ADMIN_PASSWORD"] = adminPassword
        // Replicas on one PostgreSQL database share the key that seals registry passwords.
        if database.hasPrefix("postgres") {
            env["SLIPWAY_SECRET_KEY"] = testSecretKey
            env["SLIPWAY_JWT_SECRET"] = testJWTSecret
        }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let output = self.output
        let seen = try await onOwnThread { try Self.readUntilPort(output) }
        self.port = seen.port
        // Keep draining the log so the server never blocks on a full pipe.
        logLock.withLock { logText = seen.log }
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            self?.logLock.withLock { self?.logText += text }
        }
    }

    /// Runs `slipwayd` with `arguments` to its end (a command, or a start that is refused): its exit status
    /// and everything it wrote. `environment` replaces the inherited one when given.
    static func run(_ arguments: [String], environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
        try await runToEnd(executable, arguments, environment: environment)
    }

    /// Reads the log until the server says where it listens: the port, and what it wrote until then.
    private static func readUntilPort(_ output: Pipe) throws -> (port: Int, log: String) {
        var seen = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
            if let range = seen.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                return (Int(seen[range].split(separator: ":").last!)!, seen)
            }
        }
        throw ProcessError(message: "slipwayd did not report its port; output: \(seen)")
    }

    struct ProcessError: Error { var message: String }

    /// A client of this server, signed out.
    var api: APIClient { APIClient(baseURL: "http://127.0.0.1:\(port)") }

    /// Sends `signal` and waits for the process to end: at most 15 s, then SIGKILL, so a server that does not
    /// stop fails the test that asked (its termination status says so) instead of hanging the suite.
    func kill(_ signal: Int32) async {
        await onOwnThread { self.signalAndWait(signal) }
    }

    /// ``kill(_:)`` where no one can wait (a `defer`): the waiting, and SIGKILL if it comes to that, happen
    /// on a thread of its own.
    func killInBackground(_ signal: Int32) {
        Thread { self.signalAndWait(signal) }.start()
    }

    private func signalAndWait(_ signal: Int32) {
        Foundation.kill(process.processIdentifier, signal)
        // Shutting down waits for the requests in flight, each bounded by the store's own timeouts (a 10 s
        // transaction, a 5 s wait for a connection): on a loaded machine after PostgreSQL restarted, more than 15 s.
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
