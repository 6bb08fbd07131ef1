import Foundation

/// The one source of time: the engine's deadlines and bakes, the report batcher, token expiry and every
/// timestamp a controller writes read it. Injected, so tests move time instead of sleeping.
public struct SlipwayClock: Sendable {
    public var now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date) {
        self.now = now
    }

    /// The wall clock.
    public static let system = SlipwayClock { Date() }
}
