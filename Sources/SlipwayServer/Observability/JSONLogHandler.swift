import Foundation
import Logging
import Synchronization

/// Log lines as JSON objects, one per line, for log shippers: `time` (UTC, milliseconds), `level`,
/// `label`, `message`, `source`, and the metadata as further string fields (a metadata key never
/// replaces one of those five).
public struct JSONLogHandler: LogHandler {
    /// Where finished lines go; one lock, so lines from many threads never interleave.
    public final class Sink: Sendable {
        private let output: Mutex<@Sendable (String) -> Void>

        public init(_ write: @escaping @Sendable (String) -> Void) {
            self.output = Mutex(write)
        }

        func emit(_ line: String) { output.withLock { $0(line) } }

        /// Standard error, where the text format goes too; unbuffered, so nothing waits in a buffer when the process dies.
        public static let standardError = Sink { line in
            var line = line
            line.withUTF8 { bytes in
                var rest = UnsafeRawBufferPointer(bytes)
                while !rest.isEmpty {
                    let written = write(STDERR_FILENO, rest.baseAddress, rest.count)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return }
                    rest = UnsafeRawBufferPointer(rebasing: rest[written...])
                }
            }
        }
    }

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: Sink

    public init(label: String, sink: Sink = .standardError) {
        self.label = label
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let explicit = event.metadata { fields.merge(explicit) { $1 } }
        var line = "{\"time\":\"\(Self.timestamp())\",\"level\":\"\(event.level.rawValue)\",\"label\":"
        Self.appendQuoted(label, to: &line)
        line += ",\"message\":"
        Self.appendQuoted(event.message.description, to: &line)
        line += ",\"source\":"
        Self.appendQuoted(event.source, to: &line)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where !["time", "level", "label", "message", "source"].contains(key) {
            line += ","
            Self.appendQuoted(key, to: &line)
            line += ":"
            Self.appendQuoted(value.description, to: &line)
        }
        line += "}\n"
        sink.emit(line)
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
    static func appendQuoted(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20 || scalar == "\u{2028}" || scalar == "\u{2029}":
                let hex = String(scalar.value, radix: 16)
                line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }

    /// Now in UTC as `2026-11-29T17:45:12.345Z`.
    static func timestamp() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var parts = tm()
        var seconds = time.tv_sec
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(time.tv_nsec / 1_000_000), 3))Z"
    }
}
