import Foundation
import Slipway

/// Printing results: aligned tables and key-value lists for people, JSON for scripts.
enum Output {
    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Columns padded to their widest cell, two spaces apart.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { column < $0.count ? $0[column] : "" }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }

    /// `key: value` lines, keys aligned.
    static func fields(_ pairs: [(String, String?)]) -> String {
        let present = pairs.compactMap { key, value in value.map { (key, $0) } }
        let width = present.map(\.0.count).max() ?? 0
        return present.map { "\(($0.0 + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0)) \($0.1)" }.joined(separator: "\n")
    }

    /// A JSON value when `--json`, otherwise the text.
    static func emit(_ options: GlobalOptions, _ value: some Encodable, text: () -> String) throws {
        if options.json { try json(value) } else { print(text()) }
    }

    /// What every delete command prints: `Deleted <id>.`, or `{"deleted": "<id>"}` with `--json`.
    static func deleted(_ id: String, _ options: GlobalOptions) throws {
        try emit(options, ["deleted": id]) { "Deleted \(id)." }
    }
}
