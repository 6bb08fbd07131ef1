/// Body of `POST /2022-09-01-00/signin`: `password`, or the deprecated `hashedPassword` (hex SHA-256 of the password).
public struct SigninRequest: Codable, Sendable, Equatable {
    /// The user's email address, compared case-insensitively.
    public var email: String
    /// The password; send this rather than `hashedPassword`.
    public var password: String?
    /// Deprecated: the hex SHA-256 of the password. Send `password` instead.
    public var hashedPassword: String?

    /// Creates the request body.
    public init(email: String, password: String? = nil, hashedPassword: String? = nil) {
        self.email = email
        self.password = password
        self.hashedPassword = hashedPassword
    }
}

/// Response of sign-in and of token refresh.
public struct SigninResult: Codable, Sendable, Equatable {
    /// The bearer token for `Authorization: Bearer …`.
    public var jwtToken: String
    /// Opaque, single-use token for `POST /2022-09-01-00/refresh-token`.
    public var refreshToken: String?

    /// Creates the response body.
    public init(jwtToken: String, refreshToken: String?) {
        self.jwtToken = jwtToken
        self.refreshToken = refreshToken
    }
}

/// Body of `POST /2022-09-01-00/refresh-token`.
public struct RefreshTokenRequest: Codable, Sendable, Equatable {
    /// The refresh token (`rt-…`) from sign-in or the previous refresh; it works once.
    public var refreshToken: String

    /// Creates the request body.
    public init(refreshToken: String) {
        self.refreshToken = refreshToken
    }
}

/// Body of `POST /2022-09-01-00/signup`: a new organization and its first admin.
public struct SignupRequest: Codable, Sendable, Equatable {
    /// Name of the first admin (at most 100 bytes of UTF-8).
    public var name: String
    /// The admin's email address (at most 254 bytes of UTF-8), compared case-insensitively.
    public var email: String
    /// The admin's password (at least 8 characters, at most 1024 bytes of UTF-8).
    public var password: String
    /// Name of the new organization (at most 100 bytes of UTF-8).
    public var companyName: String

    /// Creates the request body.
    public init(name: String, email: String, password: String, companyName: String) {
        self.name = name
        self.email = email
        self.password = password
        self.companyName = companyName
    }
}

/// Response of sign-up.
public struct SignupResult: Codable, Sendable, Equatable {
    /// Id of the new organization (`org-…`).
    public var organizationId: String
    /// Id of its first admin (`u-…`).
    public var userId: String

    /// Creates the response body.
    public init(organizationId: String, userId: String) {
        self.organizationId = organizationId
        self.userId = userId
    }
}

/// Body of `POST /2022-09-01-00/user`: an admin adds a user to their organization.
public struct CreateUserRequest: Codable, Sendable, Equatable {
    /// The new user's email address, compared case-insensitively.
    public var email: String
    /// The new user's password (at least 8 characters, at most 1024 bytes of UTF-8).
    public var password: String
    /// `admin`, `editor` or `viewer`.
    public var role: String
    /// The user's name (at most 100 bytes of UTF-8); defaults to the email.
    public var name: String?

    /// Creates the request body.
    public init(email: String, password: String, role: String, name: String? = nil) {
        self.email = email
        self.password = password
        self.role = role
        self.name = name
    }
}

/// A user as listed by `GET /2022-09-01-00/user`.
public struct UserResult: Codable, Sendable, Equatable {
    /// The user id (`u-…`).
    public var id: String
    /// The user's email address, stored lowercased.
    public var email: String
    /// The user's name.
    public var name: String
    /// `admin`, `editor` or `viewer`.
    public var role: String
    /// The organization the user belongs to (`org-…`).
    public var organizationId: String
    /// When the user was created, RFC 3339 in UTC.
    public var createdAt: String
    /// A disabled user can neither sign in nor use a token issued before.
    public var disabled: Bool?
    /// Whether the user must change a generated password before anything else.
    public var mustChangePassword: Bool?

    /// Creates a user entry.
    public init(
        id: String, email: String, name: String, role: String, organizationId: String, createdAt: String, disabled: Bool? = nil,
        mustChangePassword: Bool? = nil
    ) {
        self.disabled = disabled
        self.mustChangePassword = mustChangePassword
        self.id = id
        self.email = email
        self.name = name
        self.role = role
        self.organizationId = organizationId
        self.createdAt = createdAt
    }
}

/// Response of `GET /2022-09-01-00/user`.
public struct ListUsersResult: Codable, Sendable, Equatable {
    /// The users of the caller's organization.
    public var users: [UserResult]

    /// Creates the response body.
    public init(users: [UserResult]) {
        self.users = users
    }
}

/// Body of `PATCH /2022-09-01-00/user/{id}` (admins): what to change; nil leaves it.
public struct UpdateUserRequest: Codable, Sendable, Equatable {
    /// `admin`, `editor` or `viewer`.
    public var role: String?
    /// true refuses the user's next request and every sign-in; false lets them sign in again.
    public var disabled: Bool?

    public init(role: String? = nil, disabled: Bool? = nil) {
        self.role = role
        self.disabled = disabled
    }
}

/// Body of `POST /2022-09-01-00/user/password`: the caller's own password change.
public struct ChangePasswordRequest: Codable, Sendable, Equatable {
    public var currentPassword: String
    public var newPassword: String

    public init(currentPassword: String, newPassword: String) {
        self.currentPassword = currentPassword
        self.newPassword = newPassword
    }
}

/// Body of `POST /2022-09-01-00/signout`: the session's refresh token, which stops working.
public struct SignoutRequest: Codable, Sendable, Equatable {
    public var refreshToken: String

    public init(refreshToken: String) {
        self.refreshToken = refreshToken
    }
}

/// One audit record.
public struct AuditRecordResult: Codable, Sendable, Equatable {
    /// RFC 3339 in UTC.
    public var at: String
    /// `user` or `agent`.
    public var actorType: String
    public var actorId: String?
    public var actorEmail: String?
    /// `image-config.update`, `rollout.pause`, `user.disable`, …
    public var action: String
    /// The ids the request named or created: `serviceId`, `imageConfigId`, …
    public var targets: [String: String]
    /// The HTTP status of the answer.
    public var status: Int
    /// The error id the caller got, when refused.
    public var errorId: String?
    public var clientAddress: String?
    /// For updates: field → before and after.
    public var changes: [String: AuditChangeResult]?

    public init(
        at: String, actorType: String, actorId: String?, actorEmail: String?, action: String, targets: [String: String], status: Int,
        errorId: String?, clientAddress: String?, changes: [String: AuditChangeResult]?
    ) {
        self.at = at
        self.actorType = actorType
        self.actorId = actorId
        self.actorEmail = actorEmail
        self.action = action
        self.targets = targets
        self.status = status
        self.errorId = errorId
        self.clientAddress = clientAddress
        self.changes = changes
    }
}

/// A field's value before and after an update.
public struct AuditChangeResult: Codable, Sendable, Equatable {
    public var before: String?
    public var after: String?

    public init(before: String?, after: String?) {
        self.before = before
        self.after = after
    }
}

/// Response of `GET /2022-09-01-00/audit-log`.
public struct ListAuditRecordsResult: Codable, Sendable, Equatable {
    /// Newest first.
    public var records: [AuditRecordResult]
    /// The token of the next (older) page; nil on the last page.
    public var nextPageToken: String?

    public init(records: [AuditRecordResult], nextPageToken: String? = nil) {
        self.records = records
        self.nextPageToken = nextPageToken
    }
}
