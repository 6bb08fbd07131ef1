import SlipwayCore

// Several processes on one database.

extension SQLStore {
    public var drivesRollouts: Bool { true }

    public func signals() -> AsyncStream<FleetSignal> {
        AsyncStream { $0.finish() }
    }
}
