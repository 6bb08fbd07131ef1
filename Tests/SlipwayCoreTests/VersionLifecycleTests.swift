import Foundation
import SlipwayCore
import Testing

@Suite("Version lifecycle")
struct VersionLifecycleTests {
    static func version(_ name: String, _ status: TierVersionStatus, _ images: [ImageConfigSnapshot]) -> TierVersion {
        TierVersion(serviceId: "s-x", productTierId: "pt-x", version: name, sequence: 1, status: status, releasedAt: Date(), releasedBy: "a@b.c", images: images)
    }

    static func snapshot(_ id: String, tag: String, digest: String? = nil, revision: Int = 1) -> ImageConfigSnapshot {
        ImageConfigSnapshot(
            imageConfigId: id, revision: revision,
            spec: ImageSpec(description: "app", imageName: "acme/app", imageTag: tag, imageRegistryId: "ir-x", publicKeyPEM: nil, commands: nil, args: nil),
            registryHost: "docker.io", imageDigest: digest)
    }

    @Test func aDiffSaysWhatWasAddedRemovedAndChanged() {
        let from = Self.version("1.0", .active, [Self.snapshot("imgc-a", tag: "1"), Self.snapshot("imgc-b", tag: "5")])
        let to = Self.version("2.0", .preferred, [Self.snapshot("imgc-a", tag: "2", digest: "sha256:abc", revision: 2), Self.snapshot("imgc-c", tag: "9")])
        let changes = VersionLifecycle.diff(from: from, to: to)
        #expect(changes.map(\.imageConfigId) == ["imgc-a", "imgc-b", "imgc-c"])
        #expect(changes.map(\.kind) == [.changed, .removed, .added])
        #expect(changes[0].fields == [
            .init(field: "image", before: "docker.io/acme/app:1", after: "docker.io/acme/app:2@sha256:abc"),
            .init(field: "imageTag", before: "1", after: "2"), .init(field: "imageDigest", before: nil, after: "sha256:abc"),
            .init(field: "revision", before: "1", after: "2"),
        ])
        #expect(changes[1].fields.first == .init(field: "image", before: "docker.io/acme/app:5", after: nil))
        #expect(VersionLifecycle.diff(from: from, to: from).isEmpty)
    }

    @Test func promoteAndDeprecateAreRefusedWhereTheyMakeNoSense() {
        #expect(throws: SlipwayError.invalidState("version 2.0 of product tier pt-x is already Preferred")) {
            try VersionLifecycle.checkPromote(Self.version("2.0", .preferred, []))
        }
        #expect(throws: SlipwayError.invalidState("version 1.0 of product tier pt-x is Deprecated; a deprecated version cannot become Preferred")) {
            try VersionLifecycle.checkPromote(Self.version("1.0", .deprecated, []))
        }
        #expect(throws: SlipwayError.invalidState("version 2.0 of product tier pt-x is Preferred; promote another version before deprecating it")) {
            try VersionLifecycle.checkDeprecate(Self.version("2.0", .preferred, []))
        }
        #expect(throws: Never.self) { try VersionLifecycle.checkDeprecate(Self.version("1.0", .active, [])) }
        #expect(throws: SlipwayError.invalidState(
            "version 1.0 of product tier pt-x is Deprecated: no new instance may run it; register at the Preferred version")) {
            try VersionLifecycle.checkRegistration(at: "1.0", productTierId: "pt-x", status: .deprecated)
        }
    }
}
