import Crypto
import Foundation
import JWTKit
import SlipwayCore

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

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            guard iss.value == TokenIssuer.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "wrong issuer") }
        }
    }

    static let issuer = "slipwayd"
    let keys: JWTKeyCollection
    let accessLifetime: TimeInterval
    let refreshLifetime: TimeInterval

    init(secret: [UInt8], accessLifetime: TimeInterval, refreshLifetime: TimeInterval = 30 * 24 * 3600) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.accessLifetime = accessLifetime
        self.refreshLifetime = refreshLifetime
    }

    func accessToken(for user: User, now: Date = Date()) async throws -> String {
        let claims = AccessClaims(
            sub: .init(value: user.id), exp: .init(value: now.addingTimeInterval(accessLifetime)), iat: .init(value: now),
            iss: .init(value: Self.issuer), org: user.organizationId, email: user.email, role: user.role.rawValue)
        return try await keys.sign(claims)
    }

    /// The caller a bearer token names; 401 with the reason otherwise.
    func identity(fromBearer token: String) async throws -> Identity {
        let claims: AccessClaims
        do {
            claims = try await keys.verify(token, as: AccessClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw SlipwayError.authFailure("the token has expired or is not valid; sign in again or use POST /2022-09-01-00/refresh-token")
        } catch {
            throw SlipwayError.authFailure("the bearer token is not a valid Slipway token; sign in with POST /2022-09-01-00/signin")
        }
        guard let role = Role(rawValue: claims.role) else {
            throw SlipwayError.authFailure("the bearer token is not a valid Slipway token; sign in again")
        }
        return Identity(userId: claims.sub.value, organizationId: claims.org, email: claims.email, role: role)
    }

    /// A new opaque refresh token and the hash under which it is stored.
    static func newRefreshToken() -> (token: String, hash: String) {
        let token = "rt-" + Identifiers.random(length: 43)
        return (token, refreshTokenHash(token))
    }

    static func refreshTokenHash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
