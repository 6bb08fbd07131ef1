import Foundation

/// What the agent applied, kept in `--state-dir` so that a restarted agent never applies the same state twice.
struct AgentState: Codable, Equatable {
    /// One applied image: a later desired state that names the same reference, commands and args needs no new run.
    struct Applied: Codable, Equatable {
        var image: String
        var commands: [String]?
        var args: [String]?
    }

    /// A report as last decided, resent after a restart in case the server never got it.
    struct Report: Codable, Equatable {
        var generation: Int
        var tierVersion: String
        var status: String
        var message: String?
        var health: String?
    }

    /// The desired-state generation fully applied (or given up on), if any.
    var generation: Int?
    var applied: [String: Applied] = [:]
    var lastReport: Report?

    /// Reads the state file; a missing file is a fresh agent.
    static func load(from file: URL) throws -> AgentState {
        guard FileManager.default.fileExists(atPath: file.path) else { return AgentState() }
        do {
            return try JSONDecoder().decode(AgentState.self, from: Data(contentsOf: file))
        } catch {
            throw AgentError("the state file \(file.path) is unreadable (\(error)); move it away to start afresh")
        }
    }

    /// Writes the state durably: a temporary file, fsync, then an atomic rename.
    func save(to file: URL) throws {
        let data = try JSONEncoder().encode(self)
        let temporary = file.appendingPathExtension("tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw AgentError("cannot write \(temporary.path)")
        }
        let handle = try FileHandle(forWritingTo: temporary)
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
        guard rename(temporary.path, file.path) == 0 else { throw AgentError("cannot rename \(temporary.path) to \(file.path): errno \(errno)") }
        let directory = open(file.deletingLastPathComponent().path, O_RDONLY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}

/// A failure the agent explains and retries or exits on.
struct AgentError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
