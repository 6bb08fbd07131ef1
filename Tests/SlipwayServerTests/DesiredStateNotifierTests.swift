import Foundation
import SlipwayEngine
import Synchronization
import Testing

/// The long-poll waits: each ends at its own deadline, on a notification, or on cancellation, though all
/// share one timer.
@Suite("Long-poll waits")
struct DesiredStateNotifierTests {
    /// Which waits have returned, by name.
    final class Ended: Sendable {
        private let names = Mutex<Set<String>>([])
        func add(_ name: String) { names.withLock { _ = $0.insert(name) } }
        var value: Set<String> { names.withLock { $0 } }
    }

    /// How long each wait lasted, by its number.
    final class Lasted: Sendable {
        private let durations = Mutex<[Int: Duration]>([:])
        func record(_ index: Int, _ duration: Duration) { durations.withLock { $0[index] = duration } }
        var value: [Int: Duration] { durations.withLock { $0 } }
    }

    @Test func aShortWaitStartedAfterALongOneEndsAtItsOwnDeadline() async throws {
        let notifier = DesiredStateNotifier()
        let ended = Ended()
        let long = Task { await notifier.wait(for: "inst-a", after: 0, timeout: .seconds(600)); ended.add("long") }
        try await eventually("the long wait is waiting") { await notifier.waiting == 1 }
        // Its deadline is earlier than the one the shared timer is set for: the timer moves to it.
        let started = ContinuousClock.now
        await notifier.wait(for: "inst-b", after: 0, timeout: .milliseconds(300))
        #expect(ContinuousClock.now - started >= .milliseconds(300), "the short wait lasted its timeout")
        let stillWaiting = await notifier.waiting
        #expect(ended.value.isEmpty && stillWaiting == 1, "the long wait still waits")
        long.cancel()
        try await eventually("a cancelled wait returns") { ended.value == ["long"] }
        #expect(await notifier.waiting == 0)
    }

    @Test func aNotificationWakesEveryWaitOnThatInstanceAndNoOther() async throws {
        let notifier = DesiredStateNotifier()
        let ended = Ended()
        let mark = await notifier.mark("inst-a")
        let waits = [("a1", "inst-a"), ("a2", "inst-a"), ("b", "inst-b")].map { name, instance in
            Task { await notifier.wait(for: instance, after: mark, timeout: .seconds(600)); ended.add(name) }
        }
        try await eventually("three waits are waiting") { await notifier.waiting == 3 }
        await notifier.notify(["inst-a"])
        try await eventually("both waits on inst-a returned") { ended.value == ["a1", "a2"] }
        #expect(await notifier.waiting == 1)
        // A wait whose mark is already behind returns at once, notified: the change happened between the read and the wait.
        let missedChange = await notifier.wait(for: "inst-a", after: mark, timeout: .seconds(600))
        #expect(missedChange, "a change since the mark counts as notified")
        // Woken by a notification, a wait says so; ended by its timeout, it says not.
        let newMark = await notifier.mark("inst-a")
        let woken = Task { await notifier.wait(for: "inst-a", after: newMark, timeout: .seconds(600)) }
        try await eventually("the wait is waiting") { await notifier.waiting == 2 }
        await notifier.notify(["inst-a"])
        let wokenSaysNotified = await woken.value
        let timedOut = await notifier.wait(for: "inst-d", after: 0, timeout: .milliseconds(50))
        #expect(wokenSaysNotified && !timedOut)
        await notifier.shutdown()
        for wait in waits { await wait.value }
        let waitingAfterShutdown = await notifier.waiting
        #expect(ended.value == ["a1", "a2", "b"] && waitingAfterShutdown == 0)
        // After shutdown a wait does not wait.
        await notifier.wait(for: "inst-c", after: 0, timeout: .seconds(600))
    }

    @Test func waitsStartedInAnyOrderEachLastTheirOwnTimeout() async throws {
        let notifier = DesiredStateNotifier()
        let lasted = Lasted()
        await withTaskGroup(of: Void.self) { group in
            for index in [3, 1, 2] {
                group.addTask {
                    let started = ContinuousClock.now
                    await notifier.wait(for: "inst-\(index)", after: 0, timeout: .milliseconds(200 * index))
                    let elapsed = ContinuousClock.now - started
                    lasted.record(index, elapsed)
                }
            }
        }
        for (index, elapsed) in lasted.value { #expect(elapsed >= .milliseconds(200 * index), "wait \(index) lasted \(elapsed)") }
        let waiting = await notifier.waiting
        #expect(lasted.value.count == 3 && waiting == 0)
    }
}
