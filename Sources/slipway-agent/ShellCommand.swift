import Foundation

/// Runs an operator's hook through `/bin/sh -c`, keeping the tail of its output for the report.
enum ShellCommand {
    struct Outcome {
        var exitCode: Int32
        var output: String
        var succeeded: Bool { exitCode == 0 }
    }

    static func run(_ command: String, environment extra: [String: String]) async throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = OutputTail()
        let exitCode: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: AgentError("cannot run /bin/sh: \(error)"))
                return
            }
            // Read on a thread of its own until end of file, keeping the tail.
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread {
                while let chunk = try? handle.read(upToCount: 4096), !chunk.isEmpty { output.append(chunk) }
                output.finish()
            }
        }
        // The output ends when every holder of the pipe exits; a daemon the command started may hold it
        // for ever, so wait a moment for the rest, not longer.
        for _ in 0..<100 where !output.isFinished { try await Task.sleep(for: .milliseconds(10)) }
        return Outcome(exitCode: exitCode, output: output.text)
    }
}

/// The last 2 KiB of a command's output.
final class OutputTail: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false

    func finish() { lock.withLock { finished = true } }
    var isFinished: Bool { lock.withLock { finished } }

    func append(_ chunk: Data) {
        lock.withLock {
            data.append(chunk)
            if data.count > 2048 { data = data.suffix(2048) }
        }
    }

    var text: String { lock.withLock { String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } }
}
