import Foundation
import SlipwayCore
import Testing

/// Choosing who (selector, skip), when (schedule, paused timeout) and on what evidence (the canary gate):
/// the rules on a moved clock, without a database.
@Suite("Rollout control")
struct RolloutControlTests {
    typealias Run = RolloutEventTests.Run
    static let t0 = RolloutEventTests.t0

    static func labelled(_ n: Int, _ labels: [String: String]) -> Instance {
        var instance = RolloutEventTests.instance(n)
        instance.labels = labels
        return instance
    }

    static func snapshot(_ tag: String) -> ImageConfigSnapshot {
        ImageConfigSnapshot(
            imageConfigId: "imgc-x", revision: 1,
            spec: ImageSpec(description: "", imageName: "acme/app", imageTag: tag, imageRegistryId: "ir-x", publicKeyPEM: nil, commands: nil, args: nil),
            registryHost: "docker.io")
    }

    func plan(_ selector: RolloutSelector, _ instances: [Instance]) throws -> RolloutPlan {
        var policy = RolloutPolicy()
        policy.selector = selector
        return try RolloutPlanner.plan(
            config: RolloutEventTests.config, policy: policy, instances: instances, preferredVersions: ["pt-x": "2.0"],
            snapshots: [.init(productTierId: "pt-x", version: "1.0"): Self.snapshot("1"), .init(productTierId: "pt-x", version: "2.0"): Self.snapshot("2")])
    }

    // MARK: Choosing who

    @Test func aSelectorTakesTheListedInstancesThatCarryItsLabels() throws {
        let fleet = [
            Self.labelled(0, ["region": "eu", "tier": "gold"]), Self.labelled(1, ["region": "us"]), Self.labelled(2, [:]),
            Self.labelled(3, ["region": "eu"]),
        ]
        let byLabel = try plan(RolloutSelector(labels: ["region": "eu"]), fleet)
        #expect(byLabel.eligible.map(\.instance.id) == ["inst-0", "inst-3"])
        #expect(byLabel.ineligible.map(\.ineligibleReason) == [
            "its labels do not match the rollout's selector: wanted region=eu, has region=us",
            "its labels do not match the rollout's selector: wanted region=eu, has no region",
        ])
        let both = try plan(RolloutSelector(instanceIds: ["inst-0", "inst-1"], labels: ["region": "eu"]), fleet)
        #expect(both.eligible.map(\.instance.id) == ["inst-0"])
        #expect(both.ineligible.map(\.ineligibleReason) == [
            "its labels do not match the rollout's selector: wanted region=eu, has region=us",
            "not in the rollout's selector.instanceIds", "not in the rollout's selector.instanceIds",
        ])
        #expect(throws: SlipwayError.badRequest("selector.instanceIds names inst-9, which is not an instance of service environment se-x")) {
            try plan(RolloutSelector(instanceIds: ["inst-0", "inst-9"]), fleet)
        }
    }

    @Test func aSelectorIsChecked() {
        func check(_ selector: RolloutSelector) throws {
            var policy = RolloutPolicy()
            policy.selector = selector
            try policy.validate(now: Self.t0)
        }
        #expect(throws: SlipwayError.badRequest("selector must give instanceIds, labels or both; leave it out to take every instance")) {
            try check(RolloutSelector())
        }
        #expect(throws: SlipwayError.badRequest("selector.instanceIds must not be empty")) { try check(RolloutSelector(instanceIds: [])) }
        #expect(throws: SlipwayError.badRequest("selector.labels must not be empty")) { try check(RolloutSelector(labels: [:])) }
        #expect(throws: SlipwayError.badRequest("selector.instanceIds holds 'imgc-1', which is not a valid instance id such as 'inst-3f9aK2mQx7Lp'")) {
            try check(RolloutSelector(instanceIds: ["imgc-1"]))
        }
        #expect(throws: SlipwayError.badRequest(
            "selector.labels key '-eu' is not valid: use 1 to 63 letters, digits, '-', '_', '.' or '/', starting and ending with a letter or digit")) {
            try check(RolloutSelector(labels: ["-eu": "x"]))
        }
        #expect(throws: SlipwayError.badRequest(
            "selector.labels value 'a b' of 'region' is not valid: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")) {
            try check(RolloutSelector(labels: ["region": "a b"]))
        }
    }

    @Test func skippedInstancesLeaveALiveRolloutBeforeTheyStart() throws {
        var run = Run(instances: 4, policy: RolloutEventTests.policy { $0.maxConcurrentUpgrades = 2 })
        run.advance()
        // All or nothing: one in flight refuses the lot.
        #expect(throws: SlipwayError.invalidState("instance inst-0 is IN_PROGRESS in rollout up-x; only PENDING instances can be skipped")) {
            try run.machine.skip(instanceIds: ["inst-2", "inst-0"], rows: Array(run.rows.values), now: Self.t0)
        }
        #expect(throws: SlipwayError.notFound("instance inst-7 is not part of rollout up-x")) {
            try run.machine.skip(instanceIds: ["inst-7"], rows: Array(run.rows.values), now: Self.t0)
        }
        #expect(run.machine.takeEffects().isEmpty)
        try run.machine.skip(instanceIds: ["inst-2", "inst-3", "inst-2"], rows: Array(run.rows.values), now: Self.t0)
        run.apply()
        #expect(run.rows(.skipped).map(\.reason) == [
            "skipped by an operator (POST …/rollout/skip) before it started", "skipped by an operator (POST …/rollout/skip) before it started",
        ])
        #expect(run.machine.rollout.counts.skipped == 2 && run.machine.rollout.counts.pending == 0)
        _ = run.report(0, .succeeded)
        _ = run.report(1, .succeeded)
        run.advance()
        #expect(run.machine.rollout.status == .complete)
        #expect(run.machine.rollout.message == "complete: 2 instance(s) upgraded to 2.0, 2 skipped")
        #expect(run.desired["inst-2"] == "1.0" && run.desired["inst-3"] == "1.0")
        #expect(run.countsMatchRows)
        #expect(throws: SlipwayError.invalidState("rollout up-x is COMPLETE; only a live rollout's pending instances can be skipped")) {
            try run.machine.skip(instanceIds: ["inst-2"], rows: Array(run.rows.values), now: Self.t0)
        }
    }

    // MARK: Choosing when

    @Test func aScheduledRolloutWaitsForItsTimeThenStarts() throws {
        let at = Self.t0.addingTimeInterval(60)
        var run = Run(instances: 2, policy: RolloutEventTests.policy { $0.scheduledAt = at })
        #expect(run.machine.rollout.status == .scheduled)
        #expect(run.machine.rollout.message == "scheduled: 2 instance(s) to upgrade, starting at \(at.rfc3339)")
        #expect(run.machine.next(now: Self.t0, dependencyLive: false) == .wait(until: at))
        run.advance(now: Self.t0.addingTimeInterval(59))
        #expect(run.machine.rollout.status == .scheduled && run.desired["inst-0"] == "1.0")
        // At its time it queues like a new rollout: behind an earlier one that holds its instances.
        var held = run.machine
        held.perform(held.next(now: at, dependencyLive: true), now: at)
        #expect(held.rollout.status == .pendingDependency)
        #expect(held.next(now: at, dependencyLive: true) == .waitForDependency)
        #expect(held.rollout.message == "its scheduled time \(at.rfc3339) came: starting once no earlier rollout holds its instances")
        run.advance(now: at)
        #expect(run.machine.rollout.status == .running && run.machine.rollout.startedAt == at)
        #expect(run.desired == ["inst-0": "2.0", "inst-1": "2.0"])
    }

    @Test func aScheduledRolloutMayChangeItsTargetBeforeItStarts() throws {
        let at = Self.t0.addingTimeInterval(600)
        var run = Run(instances: 2, policy: RolloutEventTests.policy { $0.scheduledAt = at })
        typealias Tier = RolloutStateMachine.TierAtVersion
        #expect(throws: SlipwayError.notFound("product tier pt-x has no version '3.0'")) {
            try run.machine.retarget(to: "3.0", tiers: ["pt-x": nil], now: Self.t0)
        }
        #expect(throws: SlipwayError.invalidState("version 1.0 of product tier pt-x is Deprecated; a rollout may not target it")) {
            try run.machine.retarget(to: "1.0", tiers: ["pt-x": Tier(status: .deprecated, pinsImageConfig: true)], now: Self.t0)
        }
        #expect(throws: SlipwayError.invalidState("version 1.0 of product tier pt-x does not include image config imgc-x; pick a version that does")) {
            try run.machine.retarget(to: "1.0", tiers: ["pt-x": Tier(status: .active, pinsImageConfig: false)], now: Self.t0)
        }
        try run.machine.retarget(to: "1.5", tiers: ["pt-x": Tier(status: .active, pinsImageConfig: true)], now: Self.t0)
        #expect(run.machine.rollout.targetVersions == ["1.5"])
        #expect(run.machine.rollout.message == "target changed to version 1.5: 2 instance(s) to move, starting at \(at.rfc3339)")
        run.advance(now: at)
        #expect(throws: SlipwayError.invalidState(
            "rollout up-x is RUNNING; only a rollout that has not started (SCHEDULED, or PAUSED before it started) can change its target")) {
            try run.machine.retarget(to: "1.5", tiers: [:], now: at)
        }
    }

    @Test func aScheduleMustLieAhead() {
        func check(_ at: Date) throws {
            var policy = RolloutPolicy()
            policy.scheduledAt = at
            try policy.validate(now: Self.t0)
        }
        #expect(throws: SlipwayError.badRequest(
            "scheduledAt \(Self.t0.rfc3339) is not in the future (it is \(Self.t0.rfc3339) now); leave it out to start now")) { try check(Self.t0) }
        let far = Self.t0.addingTimeInterval(367 * 86_400)
        #expect(throws: SlipwayError.badRequest("scheduledAt \(far.rfc3339) is more than 366 days ahead")) { try check(far) }
    }

    @Test func aPausedScheduledRolloutResumesIntoItsSchedule() throws {
        let at = Self.t0.addingTimeInterval(600)
        var run = Run(instances: 1, policy: RolloutEventTests.policy { $0.scheduledAt = at })
        try run.machine.pause(now: Self.t0)
        try run.machine.resume(now: Self.t0.addingTimeInterval(10))
        #expect(run.machine.rollout.status == .scheduled)
        try run.machine.pause(now: Self.t0.addingTimeInterval(20))
        try run.machine.resume(now: at.addingTimeInterval(1))
        #expect(run.machine.rollout.status == .pendingDependency)
    }

    @Test func aRolloutPausedTooLongIsCancelled() throws {
        var run = Run(instances: 3, policy: RolloutEventTests.policy {
            $0.maxConcurrentUpgrades = 1
            $0.pausedTimeoutSeconds = 3600
        })
        run.advance()
        let pausedAt = Self.t0.addingTimeInterval(5)
        try run.machine.pause(now: pausedAt)
        run.apply()
        // Reports while paused do not restart the clock.
        _ = run.report(0, .succeeded, now: pausedAt.addingTimeInterval(100))
        let timeout = pausedAt.addingTimeInterval(3600)
        #expect(run.machine.next(now: pausedAt.addingTimeInterval(100), dependencyLive: false) == .wait(until: timeout))
        run.advance(now: timeout.addingTimeInterval(-1))
        #expect(run.machine.rollout.status == .paused)
        run.advance(now: timeout)
        #expect(run.machine.rollout.status == .cancelled && run.machine.rollout.finishedAt == timeout)
        #expect(run.machine.rollout.message
            == "cancelled: paused longer than pausedTimeoutSeconds (3600 s); 2 instance(s) were not started; 0 in flight finish on their own")
        #expect(run.rows(.skipped).map(\.reason) == [
            "the rollout was cancelled after 3600 s paused, before this instance started",
            "the rollout was cancelled after 3600 s paused, before this instance started",
        ])
        #expect(run.countsMatchRows)
    }

    // MARK: Gates

    static func gated(_ change: (inout RolloutPolicy) -> Void = { _ in }) -> RolloutPolicy {
        RolloutEventTests.policy {
            $0.canaryCount = 1
            $0.maxConcurrentUpgrades = 2
            $0.pauseAfterCanary = true
            change(&$0)
        }
    }

    @Test func aCanaryGateWaitsForPromoteAfterTheBake() throws {
        var run = Run(instances: 5, policy: Self.gated { $0.bakeSeconds = 30 })
        run.advance()
        #expect(run.machine.rollout.message == "canary wave: 1 instance(s) upgrading")
        _ = run.report(0, .succeeded)
        run.advance()
        #expect(run.machine.rollout.status == .running, "baking first")
        run.advance(now: Self.t0.addingTimeInterval(30))
        #expect(run.machine.rollout.status == .paused && run.machine.rollout.isAwaitingPromotion)
        #expect(run.machine.rollout.message
            == "paused after the canary wave (1 instance(s) upgraded): 4 instance(s) wait until it is promoted with POST …/rollout/promote, or cancelled")
        #expect(run.desired["inst-1"] == "1.0")
        #expect(throws: SlipwayError.invalidState(
            "rollout up-x is paused after its canary wave, waiting to be promoted; promote it with POST …/rollout/promote, "
                + "or cancel it with POST …/rollout/cancel")) { try run.machine.resume(now: Self.t0.addingTimeInterval(40)) }
        let promotedAt = Self.t0.addingTimeInterval(50)
        try run.machine.promote(now: promotedAt)
        #expect(run.machine.rollout.status == .running && run.machine.rollout.promotedAt == promotedAt)
        #expect(run.machine.rollout.message == "promoted past the canary wave: 4 instance(s) to upgrade")
        run.advance(now: promotedAt)
        #expect(run.desired["inst-1"] == "2.0" && run.desired["inst-2"] == "2.0")
        #expect(throws: SlipwayError.invalidState("rollout up-x was already promoted at \(promotedAt.rfc3339)")) {
            try run.machine.promote(now: promotedAt)
        }
        _ = run.report(1, .succeeded)
        _ = run.report(2, .succeeded)
        run.advance(now: promotedAt.addingTimeInterval(30))
        #expect(run.machine.rollout.status == .running, "no second gate")
    }

    @Test func promotingEarlyLiftsTheGate() throws {
        var run = Run(instances: 3, policy: Self.gated())
        run.advance()
        try run.machine.promote(now: Self.t0)
        #expect(run.machine.rollout.status == .running)
        _ = run.report(0, .succeeded)
        run.advance()
        #expect(run.machine.rollout.status == .running && run.desired["inst-1"] == "2.0")
    }

    @Test func aFailedCanaryHaltsInsteadOfWaiting() throws {
        var run = Run(instances: 3, policy: Self.gated())
        run.advance()
        _ = run.report(0, .failed)
        run.advance()
        #expect(run.machine.rollout.status == .failed)
        // A retry of a rollout never promoted waits again after the canary wave it reruns.
        try run.machine.retry(members: run.members(), now: Self.t0)
        run.apply()
        run.advance()
        #expect(run.machine.rollout.message == "wave 2 of 3: 1 instance(s) upgrading")
        _ = run.report(0, .succeeded)
        run.advance()
        #expect(run.machine.rollout.isAwaitingPromotion)
    }

    @Test func theGateNeedsACanary() {
        var policy = RolloutPolicy()
        policy.pauseAfterCanary = true
        #expect(throws: SlipwayError.badRequest("pauseAfterCanary needs a canary wave: set canaryCount to 1 or more")) { try policy.validate(now: Self.t0) }
        var run = Run(instances: 2, policy: RolloutPolicy())
        #expect(throws: SlipwayError.invalidState(
            "rollout up-x does not wait to be promoted: its policy has no pauseAfterCanary (with a canaryCount and more than one wave)")) {
            try run.machine.promote(now: Self.t0)
        }
    }

    @Test func aWindowWaitsAtTheGateToo() throws {
        var run = Run(instances: 4, policy: Self.gated { $0.strategy = .window })
        run.advance()
        _ = run.report(0, .succeeded)
        run.advance()
        #expect(run.machine.rollout.isAwaitingPromotion)
        try run.machine.promote(now: Self.t0)
        run.advance()
        #expect(run.machine.rollout.isSlidingWindow && run.desired.values.filter { $0 == "2.0" }.count == 3)
    }

    // MARK: Maintenance windows

    static func utc(_ text: String) -> Date { RFC3339.date(text)! }

    @Test func aWindowOpensOnItsDaysInItsTimeZoneAndRunsPastMidnight() throws {
        let window = try MaintenanceWindow(days: ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"], start: "22:00", end: "02:00", timeZone: "Europe/Berlin")
        #expect(window.summary == "Mon,Tue,Wed,Thu,Fri 22:00–02:00 Europe/Berlin")
        // Wednesday 2 December 2026, 11:00 in Berlin (UTC+1).
        let wednesday = Self.utc("2026-12-02T10:00:00Z")
        #expect(!window.isOpen(at: wednesday))
        #expect(window.nextOpening(after: wednesday) == Self.utc("2026-12-02T21:00:00Z"))
        #expect(window.isOpen(at: Self.utc("2026-12-02T21:00:00Z")))
        // Friday's window runs into Saturday; Saturday's own evening is not a window day.
        #expect(window.isOpen(at: Self.utc("2026-12-05T00:30:00Z")))
        #expect(!window.isOpen(at: Self.utc("2026-12-05T01:00:00Z")))
        #expect(window.nextOpening(after: Self.utc("2026-12-05T21:30:00Z")) == Self.utc("2026-12-07T21:00:00Z"))
        let always = try MaintenanceWindow(days: nil, start: "09:00", end: "17:00", timeZone: nil)
        #expect(always.days.count == 7 && always.timeZone == "UTC" && always.summary == "every day 09:00–17:00 UTC")
    }

    @Test func aWindowIsChecked() {
        #expect(throws: SlipwayError.badRequest("maintenanceWindow.days must name days as Mon, Tue, Wed, Thu, Fri, Sat or Sun, got 'Funday'")) {
            try MaintenanceWindow(days: ["Funday"], start: "22:00", end: "02:00", timeZone: nil)
        }
        #expect(throws: SlipwayError.badRequest("maintenanceWindow.days must name at least one day")) {
            try MaintenanceWindow(days: [], start: "22:00", end: "02:00", timeZone: nil)
        }
        #expect(throws: SlipwayError.badRequest("maintenanceWindow.start must be a time of day HH:MM such as 22:00, got '24:00'")) {
            try MaintenanceWindow(days: nil, start: "24:00", end: "02:00", timeZone: nil)
        }
        #expect(throws: SlipwayError.badRequest("maintenanceWindow.end must be a time of day HH:MM such as 22:00, got '2:00'")) {
            try MaintenanceWindow(days: nil, start: "22:00", end: "2:00", timeZone: nil)
        }
        #expect(throws: SlipwayError.badRequest("maintenanceWindow.start and end must differ, got 22:00 for both")) {
            try MaintenanceWindow(days: nil, start: "22:00", end: "22:00", timeZone: nil)
        }
        #expect(throws: SlipwayError.badRequest("maintenanceWindow.timeZone must be an IANA time zone such as Europe/Berlin, got 'Mars/Olympus'")) {
            try MaintenanceWindow(days: nil, start: "22:00", end: "02:00", timeZone: "Mars/Olympus")
        }
    }

    @Test func instancesStartOnlyInsideTheWindowAndTheStatusSaysWhenItOpens() throws {
        // t0 is 1970-01-12T13:46:40Z, a Monday: the window is 14:00–14:10 UTC every day.
        let window = try MaintenanceWindow(days: nil, start: "14:00", end: "14:10", timeZone: "UTC")
        var run = Run(instances: 4, policy: RolloutEventTests.policy {
            $0.maxConcurrentUpgrades = 2
            $0.maintenanceWindow = window
        })
        let opens = Self.utc("1970-01-12T14:00:00Z")
        run.advance()
        #expect(run.machine.rollout.status == .running && run.desired["inst-0"] == "1.0")
        #expect(run.machine.rollout.message == "outside its maintenance window (every day 14:00–14:10 UTC): 4 instance(s) wait until it opens at 1970-01-12T14:00:00Z")
        #expect(run.machine.rollout.windowOpensAt == opens)
        #expect(run.machine.next(now: Self.t0.addingTimeInterval(5), dependencyLive: false) == .awaitWindow(opensAt: opens))
        // A second look while closed writes nothing.
        run.machine.perform(.awaitWindow(opensAt: opens), now: Self.t0.addingTimeInterval(5))
        #expect(run.machine.takeEffects().isEmpty)
        run.advance(now: opens)
        #expect(run.machine.rollout.windowOpensAt == nil && run.desired["inst-0"] == "2.0" && run.desired["inst-1"] == "2.0")
        // In flight when it closes, they finish; the next wave waits for tomorrow's window.
        let closed = Self.utc("1970-01-12T14:20:00Z")
        _ = run.report(0, .succeeded, now: closed)
        _ = run.report(1, .succeeded, now: closed)
        run.advance(now: closed)
        #expect(run.machine.rollout.counts.completed == 2 && run.desired["inst-2"] == "1.0")
        #expect(run.machine.rollout.windowOpensAt == Self.utc("1970-01-13T14:00:00Z"))
        #expect(run.machine.rollout.estimatedSecondsRemaining().map { $0 > 86_000 } == true, "the ETA counts the wait")
    }
}
