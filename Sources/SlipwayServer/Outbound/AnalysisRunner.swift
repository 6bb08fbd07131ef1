import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore
import SlipwayEngine

/// Measures the analysis of each running rollout that has one, when it is due (see ``RolloutAnalysis``), and
/// hands the result to the store, whose state machine decides; a measurement the engine must act on (a wave
/// boundary passed, or the failure limit reached) wakes it. Only the replica that drives rollouts measures.
actor AnalysisRunner: ServiceLifecycle.Service {
    private let store: any FleetStore
    private let engine: RolloutEngine
    private let clock: SlipwayClock
    private let egress: Egress
    private let logger: Logger

    init(store: any FleetStore, engine: RolloutEngine, clock: SlipwayClock, egress: Egress, logger: Logger) {
        self.store = store
        self.engine = engine
        self.clock = clock
        self.egress = egress
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    if self.store.drivesRollouts { try await self.measureDue() }
                } catch {
                    self.logger.warning("rollout analyses could not be read", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    func measureDue() async throws {
        let due = try await store.rolloutsDueForAnalysis(now: clock.now())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for rollout in due {
                guard let analysis = rollout.policy.analysis else { continue }
                group.addTask {
                    let (passed, text) = await self.measure(analysis)
                    if try await self.store.recordAnalysis(rolloutId: rollout.id, passed: passed, text: text, now: self.clock.now()) {
                        self.engine.wake()
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private func measure(_ analysis: RolloutAnalysis) async -> (Bool, String) {
        let url: String
        if let check = analysis.url {
            url = check
        } else {
            var components = URLComponents(string: analysis.prometheusUrl ?? "") ?? URLComponents()
            let base = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
            components.path = base + "/api/v1/query"
            components.queryItems = [URLQueryItem(name: "query", value: analysis.query)]
            url = components.string ?? ""
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "slipwayd-analysis")
        do {
            let (status, body) = try await egress.send(request)
            return analysis.judge(status: status, body: body)
        } catch let refused as EgressRefused {
            return (false, refused.message)
        } catch {
            return (false, "\(analysis.url ?? analysis.prometheusUrl ?? "") gave no answer: \(error)")
        }
    }
}
