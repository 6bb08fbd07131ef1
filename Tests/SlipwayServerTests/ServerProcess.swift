import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlipwayWire
import Testing

/// A real `slipwayd` process on 127.0.0.1, for what only a process can show: SIGKILL, SIGTERM, restarts.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let database: String
    private(set) var port = 0
    private let output = Pipe()

    /// The built `slipwayd` next to the test bundle.
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("slipwayd")
    }

    init(database: String, environment: [String: String] = [:]) throws {
        self.database = database
        process.executableURL = Self.executable
        process.arguments = ["--port", "0", "--database", database]
        var env = ProcessInfo.processInfo.environment
        env["SLIPWAY_ADMIN_EMAIL"] = adminEmail
        env["SLIPWAY_ADMIN_PASSWORD"] = adminPassword
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = output
        process.standardError = output
        try process.run()
        port = try waitForPort()
    }

    /// Reads the log until the server says where it listens.
    private func waitForPort() throws -> Int {
        var seen = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
            if let range = seen.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                return Int(seen[range].split(separator: ":").last!)!
            }
        }
        throw ProcessError(message: "slipwayd did not report its port; output: \(seen)")
    }

    struct ProcessError: Error { var message: String }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func kill(_ signal: Int32) {
        Foundation.kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    /// Sends a request with AsyncHTTPClient; returns status and body.
    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, body: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    func signIn() async throws -> String {
        let reply = try await call(.POST, "/2022-09-01-00/signin", body: "{\"email\":\"\(adminEmail)\",\"password\":\"\(adminPassword)\"}")
        return try JSONDecoder().decode(SigninResult.self, from: Data(reply.body.utf8)).jwtToken
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
