// Wire types of instances and of the agent protocol (Slipway extensions).

/// Body of `POST /2022-09-01-00/service/{serviceId}/environment/{environmentId}/instance`.
public struct RegisterInstanceRequest: Codable, Sendable, Equatable {
    /// The product tier the instance deploys (`pt-…`); it must belong to the environment.
    public var productTierId: String
    /// The instance's name, unique within the environment.
    public var name: String
    /// The tier version the instance runs now; defaults to the tier's Preferred version.
    public var tierVersion: String?
    /// Labels such as `{"region": "eu"}`, for choosing instances in a rollout's selector.
    public var labels: [String: String]?

    /// Creates the request body; `tierVersion` left nil means the tier's Preferred version.
    public init(productTierId: String, name: String, tierVersion: String? = nil, labels: [String: String]? = nil) {
        self.productTierId = productTierId
        self.name = name
        self.tierVersion = tierVersion
        self.labels = labels
    }
}

/// Body of `PATCH …/instance/{instanceId}`.
public struct UpdateInstanceRequest: Codable, Sendable, Equatable {
    /// The instance's labels, replacing all it had; `{}` removes them.
    public var labels: [String: String]

    /// Creates the request body.
    public init(labels: [String: String]) {
        self.labels = labels
    }
}

/// Response of instance registration. The agent token is shown only here; the server keeps its hash.
public struct RegisterInstanceResult: Codable, Sendable, Equatable {
    /// The new instance's id (`inst-…`).
    public var id: String
    /// The bearer token (`sat-…`) for the instance's agent on `/agent/v1`; shown only here.
    public var agentToken: String

    /// Creates the response body.
    public init(id: String, agentToken: String) {
        self.id = id
        self.agentToken = agentToken
    }
}

/// The image an instance runs (or should run) for one image config.
public struct InstanceImage: Codable, Sendable, Equatable {
    /// The image config this image is for (`imgc-…`).
    public var imageConfigId: String
    /// The full reference, `registryHost/imageName:imageTag`, with `@sha256:…` when the release pinned a digest.
    public var image: String

    /// Creates an instance image.
    public init(imageConfigId: String, image: String) {
        self.imageConfigId = imageConfigId
        self.image = image
    }
}

/// The last thing an instance's agent reported.
public struct InstanceReportResult: Codable, Sendable, Equatable {
    /// `APPLYING`, `SUCCEEDED` or `FAILED`.
    public var status: String
    /// What happened, e.g. the tail of a failed command's output.
    public var message: String?
    /// The desired-state generation the report was about, if the agent said.
    public var generation: Int?
    /// When the report arrived, RFC 3339 in UTC.
    public var reportedAt: String

    /// Creates a report entry.
    public init(status: String, message: String?, generation: Int?, reportedAt: String) {
        self.status = status
        self.message = message
        self.generation = generation
        self.reportedAt = reportedAt
    }
}

/// An instance `inst-…`.
public struct InstanceResult: Codable, Sendable, Equatable {
    /// The instance id (`inst-…`).
    public var id: String
    /// The instance's name, unique within its environment.
    public var name: String
    /// The service the instance belongs to (`s-…`).
    public var serviceId: String
    /// The service environment it is registered in (`se-…`).
    public var serviceEnvironmentId: String
    /// The product tier it deploys (`pt-…`).
    public var productTierId: String
    /// The tier version the instance last reported running.
    public var tierVersion: String
    /// The tier version it is told to run.
    public var desiredTierVersion: String
    /// Bumped whenever its desired state changes; the agent's ETag.
    public var desiredGeneration: Int
    /// The images of `tierVersion`, one per image config (on describe only).
    public var images: [InstanceImage]?
    /// The agent's last report; nil until it first reports.
    public var lastReport: InstanceReportResult?
    /// Free-form health from the last report, e.g. `healthy`.
    public var health: String?
    /// When the instance was registered, RFC 3339 in UTC.
    public var createdAt: String
    /// The instance's part in rollouts, newest first (on describe only).
    public var upgradeHistory: [RolloutInstanceResult]?
    /// The operator's labels, such as `{"region": "eu"}`.
    public var labels: [String: String]?

    /// Creates an instance entry.
    public init(
        id: String, name: String, serviceId: String, serviceEnvironmentId: String, productTierId: String, tierVersion: String,
        desiredTierVersion: String, desiredGeneration: Int, images: [InstanceImage]?, lastReport: InstanceReportResult?, health: String?,
        createdAt: String, upgradeHistory: [RolloutInstanceResult]?, labels: [String: String]? = nil
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
        self.labels = labels
    }
}

/// Response of listing instances.
public struct ListInstancesResult: Codable, Sendable, Equatable {
    /// One page of instances, oldest first, without `images` and `upgradeHistory`.
    public var instances: [InstanceResult]
    /// The token of the next page; nil on the last page.
    public var nextPageToken: String?

    /// Creates the response body.
    public init(instances: [InstanceResult], nextPageToken: String? = nil) {
        self.instances = instances
        self.nextPageToken = nextPageToken
    }
}

/// One image an agent must run, with everything its apply command needs.
public struct AgentImage: Codable, Sendable, Equatable {
    /// The image config this image is for (`imgc-…`).
    public var imageConfigId: String
    /// The full reference, `registryHost/imageName:imageTag`, with `@sha256:…` when the release pinned a digest.
    public var image: String
    /// The registry host, e.g. `docker.io`.
    public var registryHost: String
    /// Whether the registry speaks plain HTTP.
    public var registryInsecure: Bool?
    /// The manifest digest (`sha256:…`) the release checked and pinned; nil when the registry is not verified.
    public var imageDigest: String?
    /// The image name in the registry, e.g. `library/postgres`.
    public var imageName: String
    /// The image tag, e.g. `17.0`.
    public var imageTag: String
    /// Commands to run in the container; nil when not set.
    public var commands: [String]?
    /// Arguments to pass to the container; nil when not set.
    public var args: [String]?
    /// PEM public key to verify the image signature with; nil when not set.
    public var imageSignaturePublicKeyPEM: String?

    /// Creates an agent image.
    public init(
        imageConfigId: String, image: String, registryHost: String, imageName: String, imageTag: String, commands: [String]?, args: [String]?,
        imageSignaturePublicKeyPEM: String?, registryInsecure: Bool? = nil, imageDigest: String? = nil
    ) {
        self.registryInsecure = registryInsecure
        self.imageDigest = imageDigest
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
    /// The instance this state is for (`inst-…`).
    public var instanceId: String
    /// Bumped whenever the desired state changes.
    public var generation: Int
    /// The tier version to run, e.g. `2.0`.
    public var tierVersion: String
    /// The images to run, one per image config of the tier version.
    public var images: [AgentImage]

    /// Creates the response body.
    public init(instanceId: String, generation: Int, tierVersion: String, images: [AgentImage]) {
        self.instanceId = instanceId
        self.generation = generation
        self.tierVersion = tierVersion
        self.images = images
    }
}

/// Body of `POST /agent/v1/report`.
public struct AgentReportRequest: Codable, Sendable, Equatable {
    /// The tier version the report is about (on SUCCEEDED, the one the instance now runs).
    public var tierVersion: String
    /// `APPLYING`, `SUCCEEDED` or `FAILED`.
    public var status: String
    /// What happened, e.g. a failed command's output (kept up to 4096 bytes of UTF-8).
    public var message: String?
    /// Free-form health, e.g. `healthy` or the health command's output.
    public var health: String?
    /// The desired-state generation this report is about.
    public var generation: Int?

    /// Creates the request body; fields left nil are not sent.
    public init(tierVersion: String, status: String, message: String? = nil, health: String? = nil, generation: Int? = nil) {
        self.tierVersion = tierVersion
        self.status = status
        self.message = message
        self.health = health
        self.generation = generation
    }
}
