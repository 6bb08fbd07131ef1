import Logging
import ServiceLifecycle
import SlipwayCore

/// Passes what other replicas changed to this one's long-polls and engine: a desired state changed on
/// another replica wakes the agents waiting here at once, and rollout work reaches whichever replica drives.
public struct FleetSignalRelay: ServiceLifecycle.Service {
    private let store: any FleetStore
    private let notifier: DesiredStateNotifier
    private let engine: RolloutEngine

    public init(store: any FleetStore, notifier: DesiredStateNotifier, engine: RolloutEngine) {
        self.store = store
        self.notifier = notifier
        self.engine = engine
    }

    public func run() async throws {
        let signals = store.signals()
        await cancelWhenGracefulShutdown {
            for await signal in signals {
                switch signal {
                case .desiredStateChanged(let instanceIds):
                    await notifier.notify(instanceIds)
                case .rolloutWork:
                    engine.wake()
                case .resync:
                    await notifier.notifyAll()
                    engine.wake()
                case .drivingRollouts:
                    engine.wake()
                }
            }
        }
        // A store only this process opens has nothing to relay; a service that returns early would stop the server.
        try? await gracefulShutdown()
    }
}
