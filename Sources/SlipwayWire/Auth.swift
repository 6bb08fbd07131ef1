/// Body of `POST /2022-09-01-00/signin`: `password`, or the deprecated `hashedPassword` (hex SHA-256 of the password).
public struct SigninRequest: Codable, Sendable, Equatable {
    public var email: String
    public var password: String?
    public var hashedPassword: String?

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

    public init(jwtToken: String, refreshToken: String?) {
        self.jwtToken = jwtToken
        self.refreshToken = refreshToken
    }
}

/// Body of `POST /2022-09-01-00/refresh-token`.
public struct RefreshTokenRequest: Codable, Sendable, Equatable {
    public var refreshToken: String

    public init(refreshToken: String) {
        self.refreshToken = refreshToken
    }
}

/// Body of `POST /2022-09-01-00/signup`: a new organization and its first admin.
public struct SignupRequest: Codable, Sendable, Equatable {
    public var name: String
    public var email: String
    public var password: String
    public var companyName: String

    public init(name: String, email: String, password: String, companyName: String) {
        self.name = name
        self.email = email
        self.password = password
        self.companyName = companyName
    }
}

/// Response of sign-up.
public struct SignupResult: Codable, Sendable, Equatable {
    public var organizationId: String
    public var userId: String

    public init(organizationId: String, userId: String) {
        self.organizationId = organizationId
        self.userId = userId
    }
}

/// Body of `POST /2022-09-01-00/user`: an admin adds a user to their organization.
public struct CreateUserRequest: Codable, Sendable, Equatable {
    public var email: String
    public var password: String
    /// `admin`, `editor` or `viewer`.
    public var role: String
    public var name: String?

    public init(email: String, password: String, role: String, name: String? = nil) {
        self.email = email
        self.password = password
        self.role = role
        self.name = name
    }
}

/// A user as listed by `GET /2022-09-01-00/user`.
public struct UserResult: Codable, Sendable, Equatable {
    public var id: String
    public var email: String
    public var name: String
    public var role: String
    public var organizationId: String
    public var createdAt: String

    public init(id: String, email: String, name: String, role: String, organizationId: String, createdAt: String) {
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
    public var users: [UserResult]

    public init(users: [UserResult]) {
        self.users = users
    }
}
