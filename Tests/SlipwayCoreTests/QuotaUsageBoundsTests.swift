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
