import Crypto
import Foundation
import JWTKit
import SlipwayCore
import Synchronization

/// Issues and checks the bearer tokens (HS256 JWTs) and the opaque refresh tokens.
struct TokenIssuer: Sendable {
    /// The claims of an access token.
    struct AccessClaims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var iat: IssuedAtClaim
        var iss: IssuerClaim
        var org: String
        var email: String
        var role: String
        /// The user's token version; absent in tokens issued before versions existed (version 1).
        var ver: Int?

        /// The signature and issuer; expiry is checked against the server's clock by ``TokenIssuer``.
        func verify(using algorithm: some JWTAlgorithm) async throws {
            guard iss.value == TokenIssuer.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "wrong issuer") }
        }
    }

    static let issuer = "slipwayd"
    let keys: SigningKeyring
    /// Tokens already verified, with their expiry: a token is immutable, so checking its signature once is enough.
    private let verified = VerifiedTokens()
    let accessLifetime: TimeInterval
    let refreshLifetime: TimeInterval
    let clock: SlipwayClock

    init(keys: SigningKeyring, accessLifetime: TimeInterval, refreshLifetime: TimeInterval = 30 * 24 * 3600, clock: SlipwayClock = .system) {
        self.clock = clock
        self.keys = keys
        self.accessLifetime = accessLifetime
        self.refreshLifetime = refreshLifetime
    }

    func accessToken(for user: User) async throws -> String {
        let now = clock.now()
        let claims = AccessClaims(
            sub: .init(value: user.id), exp: .init(value: now.addingTimeInterval(accessLifetime)), iat: .init(value: now),
            iss: .init(value: Self.issuer), org: user.organizationId, email: user.email, role: user.role.rawValue,
            ver: user.tokenVersion)
        let (collection, kid) = await keys.signing()
        return try await collection.sign(claims, kid: kid)
    }

    /// The caller a bearer token names; 401 with the reason otherwise.
    func identity(fromBearer token: String) async throws -> Identity {
        let now = clock.now()
        if let known = verified.identity(for: token, now: now) { return known }
        let claims: AccessClaims
        let expired = SlipwayError.authFailure("the token has expired or is not valid; sign in again or use POST /2022-09-01-00/refresh-token")
        do {
            do {
                claims = try await keys.collection.verify(token, as: AccessClaims.self)
            } catch let error as JWTError where error.errorType != .claimVerificationFailure {
                // Perhaps signed with a key this replica has not read yet (just rotated): look once more.
                guard await keys.reloadIfChanged() else { throw error }
                claims = try await keys.collection.verify(token, as: AccessClaims.self)
            }
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw expired
        } catch {
            throw SlipwayError.authFailure("the bearer token is not a valid Slipway token; sign in with POST /2022-09-01-00/signin")
        }
        guard claims.exp.value > now else { throw expired }
        guard let role = Role(rawValue: claims.role) else {
            throw SlipwayError.authFailure("the bearer token is not a valid Slipway token; sign in again")
        }
        let identity = Identity(
            userId: claims.sub.value, organizationId: claims.org, email: claims.email, role: role, tokenVersion: claims.ver ?? 1)
        verified.remember(token, identity: identity, expiresAt: claims.exp.value)
        return identity
    }
}

/// Bearer tokens whose signature and claims were checked, until they expire. Bounded: when full it starts afresh.
final class VerifiedTokens: Sendable {
    private struct Entry {
        var identity: Identity
        var expiresAt: Date
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let capacity = 10_000

    func identity(for token: String, now: Date) -> Identity? {
        entries.withLock { entries in
            guard let entry = entries[token] else { return nil }
            guard entry.expiresAt > now else {
                entries[token] = nil
                return nil
            }
            return entry.identity
        }
    }

    func remember(_ token: String, identity: Identity, expiresAt: Date) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = Entry(identity: identity, expiresAt: expiresAt)
        }
    }
}
