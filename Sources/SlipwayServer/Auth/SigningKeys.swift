import Foundation
import JWTKit
import SlipwayCore
import Synchronization

/// One HMAC key that signs access tokens, named by the `kid` in their header.
public struct SigningKey: Sendable, Equatable {
    public var kid: String
    public var secret: [UInt8]
    public var createdAt: Date
}

/// The access-token keys, kept outside the database (a copy of the database alone signs nothing): a file of one
/// key per line, `<kid> <base64 secret> <created, Unix seconds>`, mode 0600. The last key signs; every key in the
/// file verifies. `slipwayd rotate-jwt-key` appends a new key and drops those whose tokens have all expired.
public enum SigningKeyFile {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the keys; every failure names the file and the line.
    public static func read(_ path: String) throws -> [SigningKey] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "cannot read the signing key file \(path): check that it exists, its owner and its mode")
        }
        var keys: [SigningKey] = []
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(separator: " ")
            if fields.isEmpty { continue }
            guard fields.count == 3, let secret = Data(base64Encoded: String(fields[1])), secret.count >= 32,
                let created = TimeInterval(fields[2]), Self.isKid(fields[0])
            else {
                throw Failure(
                    description: "the signing key file \(path), line \(number + 1), is not '<kid> <base64 of at least 32 bytes> <created, Unix seconds>'")
            }
            keys.append(SigningKey(kid: String(fields[0]), secret: Array(secret), createdAt: Date(timeIntervalSince1970: created)))
        }
        guard !keys.isEmpty else { throw Failure(description: "the signing key file \(path) holds no key") }
        guard Set(keys.map(\.kid)).count == keys.count else { throw Failure(description: "the signing key file \(path) names a kid twice") }
        return keys
    }

    /// Reads the file, or creates it with one new key (mode 0600) when there is none.
    public static func readOrCreate(_ path: String, now: Date) throws -> (keys: [SigningKey], created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try read(path), false) }
        let keys = [newKey(now: now)]
        do {
            try write(keys, to: path, replacing: false)
        } catch is Failure where FileManager.default.fileExists(atPath: path) {
            // Another process created it first.
            return (try read(path), false)
        }
        return (keys, true)
    }

    /// Appends a new key, and drops the keys retired longer ago than `tokenLifetime` (their tokens have all
    /// expired). Returns the new key and the dropped ones.
    public static func rotate(_ path: String, now: Date, tokenLifetime: TimeInterval) throws -> (added: SigningKey, dropped: [SigningKey]) {
        let keys = try read(path)
        let added = newKey(now: now)
        var kept: [SigningKey] = []
        var dropped: [SigningKey] = []
        for (index, key) in keys.enumerated() {
            // A key retires when the next one is made: tokens it signed live at most `tokenLifetime` longer.
            let retiredAt = index + 1 < keys.count ? keys[index + 1].createdAt : now
            if now.timeIntervalSince(retiredAt) > tokenLifetime { dropped.append(key) } else { kept.append(key) }
        }
        try write(kept + [added], to: path, replacing: true)
        return (added, dropped)
    }

    static func newKey(now: Date) -> SigningKey {
        SigningKey(
            kid: Identifiers.random(length: 12), secret: Identifiers.randomBytes(32),
            createdAt: Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down)))
    }

    /// The key that signs `SLIPWAY_JWT_SECRET` tokens: its kid is derived from the secret, so every replica given
    /// the same secret names it alike.
    static func key(fromSecret secret: String) -> SigningKey {
        SigningKey(kid: "env-" + String(OpaqueToken.hash(secret).prefix(12)), secret: Array(secret.utf8), createdAt: .distantPast)
    }

    private static func isKid(_ text: Substring) -> Bool {
        !text.isEmpty && text.count <= 64 && text.utf8.allSatisfy { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }

    /// Writes the whole file anew: a temporary file beside it (0600), flushed, then renamed over it, so a crash leaves
    /// the old file or the new one, never half of one.
    private static func write(_ keys: [SigningKey], to path: String, replacing: Bool) throws {
        let text = keys.map { "\($0.kid) \(Data($0.secret).base64EncodedString()) \(Int($0.createdAt.timeIntervalSince1970))\n" }.joined()
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { throw Failure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = Glibc.write(descriptor, bytes, bytes.count) == bytes.count && fsync(descriptor) == 0
        close(descriptor)
        guard written else {
            unlink(temporary)
            throw Failure(description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        // link() refuses to replace a file that another process created meanwhile; rename() replaces it at once.
        let moved = replacing ? rename(temporary, path) == 0 : link(temporary, path) == 0
        let reason = String(cString: strerror(errno))
        if !(replacing && moved) { unlink(temporary) }
        guard moved else { throw Failure(description: "cannot write the signing key file \(path): \(reason)") }
        syncDirectory(of: path)
    }

    private static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}

/// Where the signing keys come from.
enum SigningKeySource: Sendable {
    /// `SLIPWAY_JWT_SECRET`, or keys given directly.
    case fixed([SigningKey])
    /// A key file, read again when it changes (after `slipwayd rotate-jwt-key`).
    case file(String)
}

/// The keys in use: the newest signs, all verify. A key file is looked at again at most once a second when a
/// token is signed or fails to verify, so a rotation reaches a running server without a restart.
final class SigningKeyring: Sendable {
    private struct Loaded: Sendable {
        var collection: JWTKeyCollection
        var signingKid: JWKIdentifier
        var fileModified: Date?
        var checkedAt: ContinuousClock.Instant
    }

    let source: SigningKeySource
    private let loaded: Mutex<Loaded>

    init(_ source: SigningKeySource) async throws {
        self.source = source
        let (keys, modified) = try Self.keys(of: source)
        loaded = Mutex(Loaded(collection: await Self.collection(keys), signingKid: JWKIdentifier(string: keys.last!.kid), fileModified: modified, checkedAt: .now))
    }

    /// The collection and the kid that signs now.
    func signing() async -> (JWTKeyCollection, JWKIdentifier) {
        await reloadIfChanged()
        return loaded.withLock { ($0.collection, $0.signingKid) }
    }

    var collection: JWTKeyCollection { loaded.withLock { $0.collection } }

    /// Reads the key file again when it changed; true when the keys changed.
    @discardableResult
    func reloadIfChanged() async -> Bool {
        guard case .file(let path) = source else { return false }
        let now = ContinuousClock.now
        let known: Date? = loaded.withLock { state in
            guard now - state.checkedAt >= .seconds(1) else { return .distantFuture }
            state.checkedAt = now
            return state.fileModified
        }
        guard known != .distantFuture else { return false }
        let modified = Self.modified(path)
        guard modified != known, let keys = try? SigningKeyFile.read(path) else { return false }
        let collection = await Self.collection(keys)
        loaded.withLock { state in
            state.collection = collection
            state.signingKid = JWKIdentifier(string: keys.last!.kid)
            state.fileModified = modified
        }
        return true
    }

    private static func keys(of source: SigningKeySource) throws -> ([SigningKey], Date?) {
        switch source {
        case .fixed(let keys): return (keys, nil)
        case .file(let path): return (try SigningKeyFile.read(path), modified(path))
        }
    }

    private static func modified(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    private static func collection(_ keys: [SigningKey]) async -> JWTKeyCollection {
        let collection = JWTKeyCollection()
        for key in keys.reversed() {
            await collection.add(hmac: HMACKey(from: key.secret), digestAlgorithm: .sha256, kid: JWKIdentifier(string: key.kid))
        }
        return collection
    }
}
