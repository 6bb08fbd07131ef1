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
        let collector = OutputTail()
        pipe.fileHandleForReading.readabilityHandler = { handle in collector.append(handle.availableData) }
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                pipe.fileHandleForReading.readabilityHandler = nil
                collector.append(pipe.fileHandleForReading.readDataToEndOfFile())
                continuation.resume(returning: Outcome(exitCode: process.terminationStatus, output: collector.text))
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: AgentError("cannot run /bin/sh: \(error)"))
            }
        }
    }
}

/// The last 2 KiB of a command's output.
final class OutputTail: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ chunk: Data) {
        lock.withLock {
            data.append(chunk)
            if data.count > 2048 { data = data.suffix(2048) }
        }
    }

    var text: String { lock.withLock { String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } }
}
