import Foundation

/// A deployed copy of a product tier `inst-…`, reached through its agent.
public struct Instance: Sendable, Equatable {
    public var id: String
    public var organizationId: String
    public var serviceId: String
    public var serviceEnvironmentId: String
    public var productTierId: String
    public var name: String
    /// The tier version the instance last reported running.
    public var currentVersion: String
    /// The tier version the instance should run.
    public var desiredVersion: String
    /// Bumped whenever the desired state changes; the agent's ETag.
    public var desiredGeneration: Int
    /// The generation the agent last reported on, and how.
    public var reportedGeneration: Int?
    public var lastReportStatus: String?
    public var lastReportMessage: String?
    public var lastReportAt: Date?
    public var health: String?
    public var createdAt: Date
    /// The operator's labels, such as `region: eu`, for choosing the instances of a rollout.
    public var labels: [String: String]

    public init(
        id: String, organizationId: String, serviceId: String, serviceEnvironmentId: String, productTierId: String, name: String,
        currentVersion: String, desiredVersion: String, desiredGeneration: Int, reportedGeneration: Int? = nil, lastReportStatus: String? = nil,
        lastReportMessage: String? = nil, lastReportAt: Date? = nil, health: String? = nil, createdAt: Date,
        labels: [String: String] = [:]
    ) {
        self.id = id
        self.organizationId = organizationId
        self.serviceId = serviceId
        self.serviceEnvironmentId = serviceEnvironmentId
        self.productTierId = productTierId
        self.name = name
        self.currentVersion = currentVersion
        self.desiredVersion = desiredVersion
        self.desiredGeneration = desiredGeneration
        self.reportedGeneration = reportedGeneration
        self.lastReportStatus = lastReportStatus
        self.lastReportMessage = lastReportMessage
        self.lastReportAt = lastReportAt
        self.health = health
        self.createdAt = createdAt
        self.labels = labels
    }
}

/// What an agent reports about applying its desired state.
public enum AgentReportStatus: String, Sendable, CaseIterable {
    case applying = "APPLYING"
    case succeeded = "SUCCEEDED"
    case failed = "FAILED"
}

/// One agent report.
public struct AgentReport: Sendable, Equatable {
    public var tierVersion: String
    public var status: AgentReportStatus
    public var message: String?
    public var health: String?
    /// The desired-state generation the report is about, when the agent knows it.
    public var generation: Int?

    public init(tierVersion: String, status: AgentReportStatus, message: String?, health: String?, generation: Int?) {
        self.tierVersion = tierVersion
        self.status = status
        self.message = message
        self.health = health
        self.generation = generation
    }
}

/// Who an agent is: its instance, and the generation of desired state the instance should be at.
public struct AgentSession: Sendable, Equatable {
    public var instanceId: String
    public var desiredGeneration: Int

    public init(instanceId: String, desiredGeneration: Int) {
        self.instanceId = instanceId
        self.desiredGeneration = desiredGeneration
    }
}

/// The state an agent should bring its instance to.
public struct DesiredState: Sendable, Equatable {
    public var instanceId: String
    public var generation: Int
    public var tierVersion: String
    public var images: [ImageConfigSnapshot]

    public init(instanceId: String, generation: Int, tierVersion: String, images: [ImageConfigSnapshot]) {
        self.instanceId = instanceId
        self.generation = generation
        self.tierVersion = tierVersion
        self.images = images
    }
}

/// Filters for listing instances.
public struct InstanceFilter: Sendable, Equatable {
    public var productTierId: String?
    public var tierVersion: String?
    /// The last report's status: `APPLYING`, `SUCCEEDED`, `FAILED`, or `UNKNOWN` for no report yet.
    public var status: String?

    public init(productTierId: String? = nil, tierVersion: String? = nil, status: String? = nil) {
        self.productTierId = productTierId
        self.tierVersion = tierVersion
        self.status = status
    }
}
