import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The PostgreSQL cluster `scripts/test.sh` starts for the tests (`scripts/postgres.sh`), and fresh
/// databases on it: each test gets an empty database of its own, as each gets a fresh SQLite file.
public enum TestPostgres {
    /// The cluster's URL (`SLIPWAY_TEST_POSTGRES`), or nil when the tests run without one.
    public static var adminURL: String? {
        ProcessInfo.processInfo.environment["SLIPWAY_TEST_POSTGRES"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Whether the HTTP and process suites run on PostgreSQL (`SLIPWAY_TEST_STORE=postgres`) instead of SQLite.
    public static var serverTestsUsePostgres: Bool {
        ProcessInfo.processInfo.environment["SLIPWAY_TEST_STORE"] == "postgres"
    }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "no PostgreSQL for the tests: run them with scripts/test.sh, which starts one, or set SLIPWAY_TEST_POSTGRES to a superuser URL"
        }
    }

    /// Creates an empty database and returns its URL.
    public static func freshDatabase() async throws -> String {
        guard let admin = adminURL else { throw Missing() }
        let name = "slipway_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20))"
        try await psql(admin, "CREATE DATABASE \(name)")
        return url(admin, database: name)
    }

    /// Drops a database made by ``freshDatabase()``, closing whatever connections it still has, from a
    /// thread of its own: cleanup that no one waits for (dropping a database takes a checkpoint).
    public static func drop(_ databaseURL: String) {
        guard let admin = adminURL, let name = URLComponents(string: databaseURL)?.path.dropFirst(), name.hasPrefix("slipway_test_") else { return }
        Thread { _ = try? run("/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", admin, "-c", "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"]) }.start()
    }

    /// `admin` with another database name.
    public static func url(_ admin: String, database: String) -> String {
        var components = URLComponents(string: admin)!
        components.path = "/" + database
        return components.string!
    }

    /// A cluster of its own (for tests that stop PostgreSQL, which others share): its URL and directory.
    public static func startCluster() async throws -> (url: String, directory: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-pg-\(UUID().uuidString.prefix(8))").path
        let url = try await onOwnThread { try run("/bin/bash", [clusterScript, "start", directory]) }
        return (url.trimmingCharacters(in: .whitespacesAndNewlines), directory)
    }

    /// Runs `scripts/postgres.sh <command> <directory>` (`stop-server`, `start-server`, `stop`, …).
    public static func cluster(_ command: String, _ directory: String) async throws {
        _ = try await onOwnThread { try run("/bin/bash", [clusterScript, command, directory]) }
    }

    /// Makes the cluster in `directory` take TCP connections over TLS only (`scripts/postgres.sh tls`);
    /// returns the path of the CA's PEM file.
    public static func enableTLS(_ directory: String) async throws -> String {
        try await onOwnThread { try run("/bin/bash", [clusterScript, "tls", directory]) }.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// ``cluster(_:_:)`` where no one can wait (a `defer`): stops the cluster from a thread of its own.
    public static func stopClusterInBackground(_ directory: String) {
        Thread { _ = try? run("/bin/bash", [clusterScript, "stop", directory]) }.start()
    }

    private static var clusterScript: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/postgres.sh").path
    }

    /// The first column of the first row `sql` answers, as text.
    public static func value(_ url: String, _ sql: String) async throws -> String {
        try await onOwnThread { try run("/usr/bin/psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", sql]) }
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func psql(_ url: String, _ sql: String) async throws {
        _ = try await onOwnThread { try run("/usr/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql]) }
    }

    /// Runs a command to its end (block a thread of its own for it, see ``onOwnThread(_:)``), through the shell's `system`: its output goes to files, not pipes (a server
    /// it starts in the background keeps inherited descriptors open, and a pipe would never reach its end).
    @discardableResult
    private static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("slipway-run-\(UUID().uuidString)").path
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let quoted = ([executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let status = system("\(quoted) > '\(base).out' 2> '\(base).err' < /dev/null")
        let printed = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        guard status == 0 else {
            let message = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
            throw CommandFailed(description: "\(executable) \(arguments.joined(separator: " ")) exited with \(status): \(message)")
        }
        return printed
    }

    public struct CommandFailed: Error, CustomStringConvertible {
        public var description: String
    }
}
