import Foundation

/// When a rollout may start instances: from `start` to `end` (local times of day in `timeZone`) beginning on
/// each of `days`. A window whose end is not after its start runs past midnight into the next day. Instances
/// already in flight when it closes finish; none starts until it opens again.
public struct MaintenanceWindow: Sendable, Equatable, Codable {
    /// Three-letter day names, `Mon` … `Sun`, on which the window opens.
    public var days: [String]
    /// `HH:MM`, 24-hour.
    public var start: String
    public var end: String
    /// An IANA time zone such as `Europe/Berlin`.
    public var timeZone: String

    public static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    /// Checks and normalizes a window as a request gives it: every day when `days` is nil, UTC when `timeZone` is.
    public init(days: [String]?, start: String, end: String, timeZone: String?) throws {
        var chosen: [String] = []
        for day in days ?? Self.dayNames {
            guard let name = Self.dayNames.first(where: { $0 == day }) else {
                throw SlipwayError.badRequest(
                    "maintenanceWindow.days must name days as Mon, Tue, Wed, Thu, Fri, Sat or Sun, got '\(day.prefix(utf8Bytes: 40))'")
            }
            if !chosen.contains(name) { chosen.append(name) }
        }
        guard !chosen.isEmpty else { throw SlipwayError.badRequest("maintenanceWindow.days must name at least one day") }
        self.days = Self.dayNames.filter(chosen.contains)
        for (field, value) in [("start", start), ("end", end)] where Self.minutes(value) == nil {
            throw SlipwayError.badRequest("maintenanceWindow.\(field) must be a time of day HH:MM such as 22:00, got '\(value.prefix(utf8Bytes: 40))'")
        }
        guard start != end else {
            throw SlipwayError.badRequest("maintenanceWindow.start and end must differ, got \(start) for both")
        }
        self.start = start
        self.end = end
        let zone = timeZone ?? "UTC"
        guard TimeZone(identifier: zone) != nil else {
            throw SlipwayError.badRequest("maintenanceWindow.timeZone must be an IANA time zone such as Europe/Berlin, got '\(zone.prefix(utf8Bytes: 60))'")
        }
        self.timeZone = zone
    }

    /// Minutes after midnight of `HH:MM`.
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) }),
            let hours = Int(parts[0]), let minutes = Int(parts[1]), (0..<24).contains(hours), (0..<60).contains(minutes)
        else { return nil }
        return hours * 60 + minutes
    }

    private var calendar: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone) ?? .gmt
        return calendar
    }

    /// The openings of the windows that begin on the local days from `first` days before `date` to `last` after it.
    private func openings(around date: Date, from first: Int, to last: Int) -> [(opens: Date, closes: Date)] {
        let calendar = calendar
        let startMinutes = Self.minutes(start) ?? 0
        var length = (Self.minutes(end) ?? 0) - startMinutes
        if length <= 0 { length += 24 * 60 }
        let today = calendar.startOfDay(for: date)
        return (first...last).compactMap { offset in
            guard let day = calendar.date(byAdding: .day, value: offset, to: today),
                days.contains(Self.dayNames[calendar.component(.weekday, from: day) - 1]),
                let opens = calendar.date(bySettingHour: startMinutes / 60, minute: startMinutes % 60, second: 0, of: day)
            else { return nil }
            return (opens, opens.addingTimeInterval(TimeInterval(length * 60)))
        }
    }

    /// Whether instances may start at `date`.
    public func isOpen(at date: Date) -> Bool {
        openings(around: date, from: -1, to: 0).contains { $0.opens <= date && date < $0.closes }
    }

    /// When the window next opens after `date` (within the coming week, since it opens on at least one day of it).
    public func nextOpening(after date: Date) -> Date {
        openings(around: date, from: 0, to: 8).first { $0.opens > date }?.opens ?? date.addingTimeInterval(86_400)
    }

    /// `Mon–Fri 22:00–02:00 Europe/Berlin`, for messages.
    public var summary: String {
        let dayText = days.count == 7 ? "every day" : days.joined(separator: ",")
        return "\(dayText) \(start)–\(end) \(timeZone)"
    }
}
