import SlipwayCore
import Testing

@Suite("Quota bounds: count only near the quota")
struct QuotaUsageBoundsTests {
    @Test func anUnknownOrganizationIsCountedThenAdmittedUpToTheQuotaWithoutCounting() {
        var bounds = QuotaUsageBounds()
        let unknown = bounds.admitWithoutCounting(.instances, organizationId: "org-a", limit: 5)
        #expect(!unknown, "nothing known: count")
        bounds.counted(.instances, organizationId: "org-a", held: 2)
        // 3 held now (the counted add); room for 2 more without counting, then count again.
        let admitted = (0..<4).map { _ in bounds.admitWithoutCounting(.instances, organizationId: "org-a", limit: 5) }
        #expect(admitted == [true, true, false, false])
        let otherResource = bounds.admitWithoutCounting(.imageConfigs, organizationId: "org-a", limit: 5)
        let otherOrganization = bounds.admitWithoutCounting(.instances, organizationId: "org-b", limit: 5)
        #expect(!otherResource && !otherOrganization, "each resource of each organization on its own")
    }

    @Test func deletesFoundByACountMakeRoomAgainAndALowerQuotaCountsAtOnce() {
        var bounds = QuotaUsageBounds()
        bounds.counted(.imageConfigs, organizationId: "org-a", held: 4)
        let atQuota = bounds.admitWithoutCounting(.imageConfigs, organizationId: "org-a", limit: 5)
        #expect(!atQuota, "at the quota: count")
        // The count finds that two were deleted meanwhile.
        bounds.counted(.imageConfigs, organizationId: "org-a", held: 2)
        let roomAgain = bounds.admitWithoutCounting(.imageConfigs, organizationId: "org-a", limit: 5)
        let lowered = bounds.admitWithoutCounting(.imageConfigs, organizationId: "org-a", limit: 3)
        #expect(roomAgain && !lowered, "room after the deletes; counted again once the operator lowered the quota")
    }

    @Test func onlyTheResourcesThatGrowLargeAreBounded() {
        #expect(OrganizationQuotas.Resource.allCases.filter(QuotaUsageBounds.tracks) == [.imageConfigs, .instances])
    }
}

@Suite("Quota bounds on a shared database: count only near the quota")
struct SharedQuotaBoundsTests {
    /// A count of 100 read after the sequence stood at 500, with 10 connections allowed, quota 150.
    static func bounds() -> SharedQuotaBounds {
        var bounds = SharedQuotaBounds()
        bounds.counted(.imageConfigs, organizationId: "org-a", held: 100, addsBefore: 500)
        return bounds
    }

    @Test func anAddIsAdmittedWhileTheBoundAndThoseOpenBesideItFitTheQuota() {
        let bounds = Self.bounds()
        // held ≤ 100 + 10 (uncommitted when counted) + adds since; plus 10 that may be open beside this one.
        let admitted = [500, 510, 530, 531, 600].map {
            bounds.admitsWithoutCounting(.imageConfigs, organizationId: "org-a", addsNow: $0, concurrentWriters: 10, limit: 150)
        }
        #expect(admitted == [true, true, true, false, false])
        let moreConnections = bounds.admitsWithoutCounting(.imageConfigs, organizationId: "org-a", addsNow: 500, concurrentWriters: 26, limit: 150)
        #expect(!moreConnections, "each connection the database allows is an add that may be unseen, twice")
    }

    @Test func withoutACountOrWithASequenceBehindItTheStoreCounts() {
        let bounds = Self.bounds()
        let unknown = [
            bounds.admitsWithoutCounting(.imageConfigs, organizationId: "org-b", addsNow: 500, concurrentWriters: 10, limit: 150),
            bounds.admitsWithoutCounting(.instances, organizationId: "org-a", addsNow: 500, concurrentWriters: 10, limit: 150),
            bounds.admitsWithoutCounting(.imageConfigs, organizationId: "org-a", addsNow: 499, concurrentWriters: 10, limit: 150),
            bounds.admitsWithoutCounting(.imageConfigs, organizationId: "org-a", addsNow: .max, concurrentWriters: 10, limit: 150),
        ]
        #expect(unknown == [false, false, false, false])
    }

    @Test func aNewerCountReplacesTheBoundAndALateOlderOneDoesNot() {
        var bounds = Self.bounds()
        // Deletes found by a later count make room again.
        bounds.counted(.imageConfigs, organizationId: "org-a", held: 40, addsBefore: 700)
        let roomAgain = bounds.admitsWithoutCounting(.imageConfigs, organizationId: "org-a", addsNow: 780, concurrentWriters: 10, limit: 150)
        // A count that read the sequence earlier, finishing later, must not bring back the older, looser reading.
        bounds.counted(.imageConfigs, organizationId: "org-a", held: 0, addsBefore: 690)
        let stillTheNewer = bounds.admitsWithoutCounting(.imageConfigs, organizationId: "org-a", addsNow: 800, concurrentWriters: 10, limit: 150)
        #expect(roomAgain && !stillTheNewer)
    }
}
