// Wire types of instances and of the agent protocol (Slipway extensions).

/// Body of `POST /2022-09-01-00/service/{serviceId}/environment/{environmentId}/instance`.
public struct RegisterInstanceRequest: Codable, Sendable, Equatable {
    public var productTierId: String
    public var name: String
    /// The tier version the instance runs now; defaults to the tier's Preferred version.
    public var tierVersion: String?

    public init(productTierId: String, name: String, tierVersion: String? = nil) {
        self.productTierId = productTierId
        self.name = name
        self.tierVersion = tierVersion
    }
}

/// Response of instance registration. The agent token is shown only here; the server keeps its hash.
public struct RegisterInstanceResult: Codable, Sendable, Equatable {
    public var id: String
    public var agentToken: String

    public init(id: String, agentToken: String) {
        self.id = id
        self.agentToken = agentToken
    }
}

/// The image an instance runs (or should run) for one image config.
public struct InstanceImage: Codable, Sendable, Equatable {
    public var imageConfigId: String
    /// The full reference, `registryHost/imageName:imageTag`.
    public var image: String

    public init(imageConfigId: String, image: String) {
        self.imageConfigId = imageConfigId
        self.image = image
    }
}

/// The last thing an instance's agent reported.
public struct InstanceReportResult: Codable, Sendable, Equatable {
    /// `APPLYING`, `SUCCEEDED` or `FAILED`.
    public var status: String
    public var message: String?
    public var generation: Int?
    public var reportedAt: String

    public init(status: String, message: String?, generation: Int?, reportedAt: String) {
        self.status = status
        self.message = message
        self.generation = generation
        self.reportedAt = reportedAt
    }
}

/// An instance `inst-…`.
public struct InstanceResult: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var serviceId: String
    public var serviceEnvironmentId: String
    public var productTierId: String
    /// The tier version the instance last reported running.
    public var tierVersion: String
    /// The tier version it is told to run.
    public var desiredTierVersion: String
    public var desiredGeneration: Int
    /// The images of `tierVersion`, one per image config (on describe only).
    public var images: [InstanceImage]?
    public var lastReport: InstanceReportResult?
    public var health: String?
    public var createdAt: String
    /// The instance's part in rollouts, newest first (on describe only).
    public var upgradeHistory: [RolloutInstanceResult]?

    public init(
        id: String, name: String, serviceId: String, serviceEnvironmentId: String, productTierId: String, tierVersion: String,
        desiredTierVersion: String, desiredGeneration: Int, images: [InstanceImage]?, lastReport: InstanceReportResult?, health: String?,
        createdAt: String, upgradeHistory: [RolloutInstanceResult]?
    ) {
        self.id = id
        self.name = name
        self.serviceId = serviceId
        self.serviceEnvironmentId = serviceEnvironmentId
        self.productTierId = productTierId
        self.tierVersion = tierVersion
        self.desiredTierVersion = desiredTierVersion
        self.desiredGeneration = desiredGeneration
        self.images = images
        self.lastReport = lastReport
        self.health = health
        self.createdAt = createdAt
        self.upgradeHistory = upgradeHistory
    }
}

/// Response of listing instances.
public struct ListInstancesResult: Codable, Sendable, Equatable {
    public var instances: [InstanceResult]
    public var nextPageToken: String?

    public init(instances: [InstanceResult], nextPageToken: String? = nil) {
        self.instances = instances
        self.nextPageToken = nextPageToken
    }
}

/// One image an agent must run, with everything its apply command needs.
public struct AgentImage: Codable, Sendable, Equatable {
    public var imageConfigId: String
    /// The full reference, `registryHost/imageName:imageTag`.
    public var image: String
    public var registryHost: String
    public var imageName: String
    public var imageTag: String
    public var commands: [String]?
    public var args: [String]?
    public var imageSignaturePublicKeyPEM: String?

    public init(
        imageConfigId: String, image: String, registryHost: String, imageName: String, imageTag: String, commands: [String]?, args: [String]?,
        imageSignaturePublicKeyPEM: String?
    ) {
        self.imageConfigId = imageConfigId
        self.image = image
        self.registryHost = registryHost
        self.imageName = imageName
        self.imageTag = imageTag
        self.commands = commands
        self.args = args
        self.imageSignaturePublicKeyPEM = imageSignaturePublicKeyPEM
    }
}

/// Response of `GET /agent/v1/desired-state`: what the instance should run. Its ETag is the generation.
public struct DesiredStateResult: Codable, Sendable, Equatable {
    public var instanceId: String
    /// Bumped whenever the desired state changes.
    public var generation: Int
    public var tierVersion: String
    public var images: [AgentImage]

    public init(instanceId: String, generation: Int, tierVersion: String, images: [AgentImage]) {
        self.instanceId = instanceId
        self.generation = generation
        self.tierVersion = tierVersion
        self.images = images
    }
}

/// Body of `POST /agent/v1/report`.
public struct AgentReportRequest: Codable, Sendable, Equatable {
    public var tierVersion: String
    /// `APPLYING`, `SUCCEEDED` or `FAILED`.
    public var status: String
    public var message: String?
    /// Free-form health, e.g. `healthy` or the health command's output.
    public var health: String?
    /// The desired-state generation this report is about.
    public var generation: Int?

    public init(tierVersion: String, status: String, message: String? = nil, health: String? = nil, generation: Int? = nil) {
        self.tierVersion = tierVersion
        self.status = status
        self.message = message
        self.health = health
        self.generation = generation
    }
}
