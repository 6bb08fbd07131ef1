import Foundation
import Logging
import ServiceLifecycle
import SlipwayCore

/// Drives every active rollout forward: starts waves, expires deadlines, halts, rolls back, completes.
///
/// It keeps no rollout state of its own: each tick reads what the store says and performs what
/// ``RolloutStateMachine`` decides, one transaction per step. After a crash a new engine carries on
/// from the database. It runs when woken (an agent report, a new rollout, a pause or resume) and at the
/// next deadline or bake end, never on a fixed scan of the fleet.
public actor RolloutEngine: ServiceLifecycle.Service {
    private let store: any FleetStore
    private let notifier: DesiredStateNotifier
    private let clock: SlipwayClock
    private let logger: Logger
    private var wakeRequested = true
    private var sleeper: CheckedContinuation<Void, Never>?
    /// Ticks failed in a row: the first is an error in the log, the rest of an outage (a database that is
    /// away fails every retry) only debug lines, and the tick that works again says so.
    private var failedTicks = 0
    /// Times the loop has woken, for `/metrics`: an idle engine wakes only at its safety-net tick, so a
    /// count that climbs with no work means the engine is spinning.
    public private(set) var passes = 0
    /// When the last sweep for abandoned plans ran: once a minute is enough, since one must be two minutes idle.
    private var plansSweptAt: Date?

    /// Longest sleep without any wake-up: a safety net, not the way the engine learns of work.
    private let idleTick: Duration

    public init(store: any FleetStore, notifier: DesiredStateNotifier, clock: SlipwayClock = .system, logger: Logger, idleTick: Duration = .seconds(30)) {
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.logger = logger
        self.idleTick = idleTick
    }

    /// Asks for a tick soon; cheap, callable from anywhere.
    public nonisolated func wake() {
        Task { await self.requestTick() }
    }

    private func requestTick() {
        wakeRequested = true
        if let sleeper {
            self.sleeper = nil
            sleeper.resume()
        }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    private func loop() async {
        while !Task.isCancelled {
            passes += 1
            var wakeAt: Date?
            do {
                // Another replica drives rollouts; this one is woken when it takes over.
                if store.drivesRollouts { wakeAt = try await tick() } else { wakeRequested = false }
                if failedTicks > 0 {
                    logger.notice("rollout engine ticks again", metadata: ["failedTicks": "\(failedTicks)"])
                    failedTicks = 0
                }
            } catch {
                failedTicks += 1
                if failedTicks == 1 {
                    logger.error("rollout engine tick failed; retrying every second", metadata: ["error": "\(error)"])
                } else {
                    logger.debug("rollout engine tick failed again", metadata: ["error": "\(error)", "failedTicks": "\(failedTicks)"])
                }
                wakeAt = clock.now().addingTimeInterval(1)
            }
            await sleep(until: wakeAt)
        }
    }

    /// One pass: expire deadlines, then advance each active rollout. Returns when the next pass is due without a wake-up.
    @discardableResult
    public func tick() async throws -> Date? {
        wakeRequested = false
        let now = clock.now()
        // Most ticks find no deadline passed: check with a read before taking the writer.
        if let due = try await store.nextDeadline(), due <= now {
            _ = try await store.expireDeadlines(now: now)
        }
        if plansSweptAt.map({ now.timeIntervalSince($0) >= 60 }) ?? true {
            let discarded = try await store.discardAbandonedPlans(now: now)
            if discarded > 0 { logger.notice("discarded rollout plans their server stopped writing", metadata: ["rollouts": "\(discarded)"]) }
            plansSweptAt = now
        }
        var wakeAt: Date?
        for id in try await store.activeRolloutIDs() {
            let (changed, next) = try await store.advanceRollout(id: id, now: now)
            if !changed.isEmpty {
                await notifier.notify(changed)
                logger.info("rollout moved instances", metadata: ["rollout": "\(id)", "instances": "\(changed.count)"])
            }
            if let next { wakeAt = min(wakeAt ?? next, next) }
        }
        // Read after advancing: the waves just started have deadlines of their own.
        if let deadline = try await store.nextDeadline() { wakeAt = min(wakeAt ?? deadline, deadline) }
        return wakeAt
    }

    private func sleep(until wakeAt: Date?) async {
        if wakeRequested { return }
        var delay = idleTick
        if let wakeAt {
            let seconds = max(0, wakeAt.timeIntervalSince(clock.now()))
            delay = min(delay, .milliseconds(Int64(seconds * 1000) + 1))
        }
        let timer = Task { [weak self] in
            // Cancelled when something else woke the engine: then it must not wake it again (a cancelled
            // timer that still woke the engine made each wake-up schedule the next, a busy loop).
            do { try await Task.sleep(for: delay) } catch { return }
            await self?.requestTick()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if wakeRequested || Task.isCancelled {
                    continuation.resume()
                } else {
                    sleeper = continuation
                }
            }
        } onCancel: {
            Task { await self.requestTick() }
        }
        timer.cancel()
    }
}
