import ArgumentParser
import Foundation
import Slipway

/// How a rollout's progress looks: a bar redrawn in place on a terminal, one plain line per change elsewhere.
enum RolloutProgress {
    /// Instances that are done with, one way or another.
    static func settled(_ status: RolloutStatusResult) -> Int {
        status.completed + status.failed + status.skipped + status.rolledBack
    }

    /// `RUNNING [██████░░░░░░] 5/10  ✔ 4  ✘ 1  ⟳ 2  wave 2/4  ETA 12s`
    static func bar(_ status: RolloutStatusResult, width: Int = 24) -> String {
        let done = settled(status)
        let fraction = status.total == 0 ? 1 : Double(done) / Double(status.total)
        let filled = min(width, Int((fraction * Double(width)).rounded(.down)))
        var text = "\(status.status) [\(String(repeating: "█", count: filled))\(String(repeating: "░", count: width - filled))] \(done)/\(status.total)"
        text += "  ✔ \(status.completed)  ✘ \(status.failed)  ⟳ \(status.inProgress + status.rollingBack)"
        if let phase = phase(status) { text += "  \(phase)" }
        if let eta = status.etaSeconds { text += "  ETA \(duration(eta))" }
        return text
    }

    /// `RUNNING wave 2/4: 4 completed, 1 failed, 2 in progress, 3 pending of 10, ETA 12s`
    static func line(_ status: RolloutStatusResult) -> String {
        var parts = ["\(status.completed) completed", "\(status.failed) failed", "\(status.inProgress) in progress", "\(status.pending) pending"]
        if status.skipped > 0 { parts.append("\(status.skipped) skipped") }
        if status.rollingBack > 0 { parts.append("\(status.rollingBack) rolling back") }
        if status.rolledBack > 0 { parts.append("\(status.rolledBack) rolled back") }
        var text = "\(status.status)"
        if let phase = phase(status) { text += " \(phase)" }
        text += ": " + parts.joined(separator: ", ") + " of \(status.total)"
        if let eta = status.etaSeconds { text += ", ETA \(duration(eta))" }
        return text
    }

    /// `wave 2/4`, or `window of 500` once a sliding window is open; nil for a rollout without instances.
    static func phase(_ status: RolloutStatusResult) -> String? {
        guard status.totalWaves > 0 else { return nil }
        if status.policy.strategy == "window" && status.currentWave == status.totalWaves {
            return "window of \(status.policy.maxConcurrentUpgrades)"
        }
        return "wave \(max(status.currentWave, 1))/\(status.totalWaves)"
    }

    /// `45s`, `3m05s`, `1h02m`.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded(.up))
        if total < 60 { return "\(total)s" }
        if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
        return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60)
    }
}

/// Follows a rollout until it settles; the exit status says how it ended.
enum RolloutWatch {
    static func run(_ client: SlipwayClient, service: String, imageConfig: String, options: GlobalOptions, interval: Duration = .milliseconds(500))
        async throws
    {
        let terminal = isatty(STDOUT_FILENO) != 0 && !options.json
        var last: RolloutStatusResult?
        for try await status in client.watchRollout(serviceId: service, id: imageConfig, every: interval) {
            if options.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(status), as: UTF8.self))
            } else if terminal {
                print("\r\u{1B}[2K" + RolloutProgress.bar(status), terminator: "")
                fflush(nil)  // all streams: the bar has no newline to flush it
            } else {
                print(RolloutProgress.line(status))
            }
            last = status
        }
        guard let last else { return }
        if !options.json { print((terminal ? "\n" : "") + last.message) }
        switch last.status {
        case "FAILED": throw ExitCode(3)
        case "CANCELLED": throw ExitCode(4)
        default: return
        }
    }
}
