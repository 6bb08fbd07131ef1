import Foundation
import SlipwayCore
import Testing

/// What a release pins and when it refuses, and how secrets are sealed: without a database or a registry.
@Suite("Release rules and sealed secrets")
struct ReleaseRulesTests {
    static let t0 = Date(timeIntervalSince1970: 1_000_000)
    static let digestA = "sha256:" + String(repeating: "a", count: 64)
    static let digestB = "sha256:" + String(repeating: "b", count: 64)

    static func config(_ id: String, tag: String = "1", revision: Int = 1) -> ImageConfig {
        ImageConfig(
            id: id, serviceId: "s-x", serviceEnvironmentId: "se-x",
            spec: ImageSpec(description: "", imageName: "acme/\(id)", imageTag: tag, imageRegistryId: "ir-x", publicKeyPEM: nil, commands: nil, args: nil),
            revision: revision, createdAt: t0, updatedAt: t0)
    }

    static let registry = ImageRegistry(
        id: "ir-x", organizationId: "org-x", name: "local", host: "127.0.0.1:5000", insecure: true, verifyImages: true, username: nil,
        sealedPassword: nil, isDefault: false, createdAt: t0)
    static let tier = ProductTier(id: "pt-x", serviceId: "s-x", serviceEnvironmentId: "se-x", name: "basic", description: "", createdAt: t0)

    static func plan(
        _ config: ImageConfig, digest: String?, latest: TierVersion?, existing: Set<String>
    ) throws -> [TierVersion] {
        try ReleasePlanner.plan(
            releasing: config, from: registry, digest: digest, into: [.init(tier: tier, latest: latest)], existingImageConfigIds: existing,
            releasedBy: "ops@example.com", at: t0)
    }

    @Test func aReleasePinsTheDigestAndAMovedTagIsANewVersion() throws {
        let app = Self.config("imgc-app")
        let first = try #require(try Self.plan(app, digest: Self.digestA, latest: nil, existing: ["imgc-app"]).first)
        #expect(first.version == "1.0")
        #expect(first.images.map(\.imageDigest) == [Self.digestA])
        #expect(first.images[0].registryInsecure)
        #expect(first.images[0].imageReference == "127.0.0.1:5000/acme/imgc-app:1@\(Self.digestA)")
        // The same revision with the tag still on the same digest: nothing to release.
        #expect(throws: SlipwayError.invalidState(
            "nothing changed since the last release: image config imgc-app as it is now is already released in pt-x version 1.0 "
                + "(pinning \(Self.digestA)); update it before releasing again")) {
            try Self.plan(app, digest: Self.digestA, latest: first, existing: ["imgc-app"])
        }
        // The tag moved: the same revision now pins other bytes, which is a new version; the old one keeps its digest.
        let second = try #require(try Self.plan(app, digest: Self.digestB, latest: first, existing: ["imgc-app"]).first)
        #expect(second.version == "2.0" && second.images.map(\.imageDigest) == [Self.digestB])
        #expect(first.images.map(\.imageDigest) == [Self.digestA])
    }

    @Test func aDeletedImageConfigIsLeftOutOfTheNextRelease() throws {
        let app = Self.config("imgc-app"), cache = Self.config("imgc-cache")
        let first = try #require(try Self.plan(app, digest: nil, latest: nil, existing: ["imgc-app", "imgc-cache"]).first)
        let both = try #require(try Self.plan(cache, digest: nil, latest: first, existing: ["imgc-app", "imgc-cache"]).first)
        #expect(both.images.map(\.imageConfigId) == ["imgc-app", "imgc-cache"])
        // imgc-app deleted: releasing imgc-cache unchanged still cuts a version, without it.
        let without = try #require(try Self.plan(cache, digest: nil, latest: both, existing: ["imgc-cache"]).first)
        #expect(without.images.map(\.imageConfigId) == ["imgc-cache"])
    }

    @Test func aReleaseChecksWhatItReleases() throws {
        let app = Self.config("imgc-app", revision: 3)
        let checked = CheckedImage(revision: 3, registryId: "ir-x", digest: Self.digestA)
        try CheckedImage.requireCurrent(checked, config: app, registry: Self.registry)
        let changed = SlipwayError.invalidState("image config imgc-app or its registry ir-x changed while the image was being checked; release again")
        #expect(throws: changed) { try CheckedImage.requireCurrent(CheckedImage(revision: 2, registryId: "ir-x", digest: Self.digestA), config: app, registry: Self.registry) }
        #expect(throws: changed) { try CheckedImage.requireCurrent(nil, config: app, registry: Self.registry) }
        var unverified = Self.registry
        unverified.verifyImages = false
        try CheckedImage.requireCurrent(nil, config: app, registry: unverified)
        #expect(throws: changed) { try CheckedImage.requireCurrent(checked, config: app, registry: unverified) }
    }

    @Test func sealedSecretsOpenOnlyWithTheirKeyAndOwner() throws {
        let box = try SecretBox(keyText: SecretBox.generateKeyText())
        let sealed = try box.seal("hunter2-registry-token", for: "ir-one")
        #expect(SecretBox.isSealed(sealed) && !sealed.contains("hunter2"))
        #expect(sealed.hasPrefix("sealed:v1:\(box.keyId):"))
        #expect(try box.open(sealed, for: "ir-one") == "hunter2-registry-token")
        // Two seals of one secret differ (a fresh nonce each time).
        #expect(try box.seal("hunter2-registry-token", for: "ir-one") != sealed)
        #expect(throws: SecretBoxError.self) { try box.open(sealed, for: "ir-two") }
        let other = try SecretBox(keyText: String(repeating: "0f", count: 32))
        do {
            _ = try other.open(sealed, for: "ir-one")
            Issue.record("opened with another key")
        } catch let error as SecretBoxError {
            #expect(error.description.contains("was sealed with key \(box.keyId), but this server has key \(other.keyId)"))
        }
        var tampered = Array(sealed.utf8)
        tampered[tampered.count - 3] = tampered[tampered.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: SecretBoxError.self) { try box.open(String(decoding: tampered, as: UTF8.self), for: "ir-one") }
        for bad in ["", "short", String(repeating: "zz", count: 32), Data(count: 16).base64EncodedString()] {
            #expect(throws: SecretBoxError("a secret key must be 32 random bytes, written as base64 (44 characters) or as 64 hex digits")) {
                try SecretBox(keyText: bad)
            }
        }
    }
}
