import Foundation

/// Durable storage of instances, agents' reports and rollouts. Every transition is one transaction,
/// so the rollout engine can be driven by what the store says after any crash.
public protocol FleetStore: Sendable {
    // MARK: Instances

    /// Registers an instance at `tierVersion` (default: the tier's Preferred version), keeping only the token's hash.
    func registerInstance(
        organizationId: String, serviceId: String, environmentId: String, productTierId: String, name: String, tierVersion: String?,
        labels: [String: String], agentTokenHash: String, now: Date
    ) async throws -> Instance
    func instance(id: String, serviceId: String, environmentId: String, organizationId: String) async throws -> Instance
    func instances(
        serviceId: String, environmentId: String, organizationId: String, filter: InstanceFilter, page: PageRequest
    ) async throws -> Page<Instance>
    /// Replaces the instance's labels.
    func setInstanceLabels(id: String, serviceId: String, environmentId: String, organizationId: String, labels: [String: String]) async throws -> Instance
    /// 409 while an active rollout drives the instance. Its rows in settled rollouts go with it, and their counts follow.
    func deleteInstance(id: String, serviceId: String, environmentId: String, organizationId: String, now: Date) async throws
    /// The instance's part in rollouts, newest first.
    func upgradeHistory(instanceId: String, limit: Int) async throws -> [RolloutInstance]

    // MARK: Agents

    /// The instance an agent token belongs to, and the generation it should be at; nil for an unknown token.
    /// Asked on every agent request, so implementations answer it from memory where they can.
    func agentSession(tokenHash: String) async throws -> AgentSession?
    func desiredState(instanceId: String) async throws -> DesiredState
    /// Records reports in one transaction (one fsync for all: group commit). For each report, in order: the id of
    /// a rollout whose current wave it finished (the engine has work there), nil, or why the report was refused.
    func recordReports(_ reports: [(instanceId: String, report: AgentReport)], now: Date) async throws -> [Result<String?, SlipwayError>]

    // MARK: Rollouts

    /// Plans a rollout of the image config's preferred release and, unless `dryRun`, creates it.
    /// 409 before any release, or while a rollout of the same config is active or being planned.
    /// A large plan is written over several transactions; `clock` dates each.
    func createRollout(
        imageConfigId: String, serviceId: String, organizationId: String, policy: RolloutPolicy, createdBy: String, dryRun: Bool,
        clock: SlipwayClock
    ) async throws -> (plan: RolloutPlan, rollout: Rollout?)
    /// The latest rollout of the image config; 404 if it never had one.
    func latestRollout(imageConfigId: String, serviceId: String, organizationId: String) async throws -> Rollout
    func rollouts(imageConfigId: String, serviceId: String, organizationId: String, page: PageRequest) async throws -> Page<Rollout>
    /// A rollout's instances in rollout order; only those in `status` when it is given.
    func rolloutInstances(rolloutId: String, status: RolloutInstanceStatus?, page: PageRequest) async throws -> Page<RolloutInstance>
    func pauseRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout
    func resumeRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout
    func cancelRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout
    /// Lets a rollout with `pauseAfterCanary` go on past its canary wave (or never stop there, when promoted early).
    func promoteRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout
    /// Points a rollout that has not started at `version` of its instances' product tiers (see ``RolloutStateMachine/retarget(to:tiers:now:)``).
    func retargetRollout(imageConfigId: String, serviceId: String, organizationId: String, version: String, now: Date) async throws -> Rollout
    /// Takes pending instances out of the live rollout: all of them, or none when one is not pending.
    func skipRolloutInstances(
        imageConfigId: String, serviceId: String, organizationId: String, instanceIds: [String], now: Date
    ) async throws -> Rollout
    /// Runs again every instance of a FAILED or CANCELLED rollout that did not reach its target.
    func retryRollout(imageConfigId: String, serviceId: String, organizationId: String, now: Date) async throws -> Rollout

    // MARK: The engine

    /// Rollouts that still drive instances.
    func activeRolloutIDs() async throws -> [String]
    /// Performs what ``RolloutStateMachine`` decides until it says wait, in one transaction and a bounded number of steps. Returns the instances whose
    /// desired state changed and when the rollout next needs a look without any report.
    func advanceRollout(id: String, now: Date) async throws -> (changedInstances: [String], wakeAt: Date?)
    /// RUNNING rollouts whose analysis is due to be measured at `now`.
    func rolloutsDueForAnalysis(now: Date) async throws -> [Rollout]
    /// Feeds a measurement of the rollout's analysis to its machine; returns whether the engine has work now.
    func recordAnalysis(rolloutId: String, passed: Bool, text: String, now: Date) async throws -> Bool
    /// Fails in-flight instances past their deadline; returns the rollouts they belong to.
    func expireDeadlines(now: Date) async throws -> [String]
    /// The earliest deadline of an in-flight instance.
    func nextDeadline() async throws -> Date?
    /// Discards rollouts left PLANNING by a server that stopped while writing them; returns how many.
    func discardAbandonedPlans(now: Date) async throws -> Int

    // MARK: Several processes on one database

    /// Whether this process should drive rollouts now: always, for a store only one process opens; on a
    /// database shared by replicas, only while it holds the engine's lease.
    var drivesRollouts: Bool { get }
    /// What other processes sharing the database changed that this one must act on. A store that only
    /// one process opens has nothing to tell: its stream ends at once. One consumer.
    func signals() -> AsyncStream<FleetSignal>

    // MARK: Metrics

    /// Counts over every organization, for the operator's metrics.
    func fleetSummary() async throws -> FleetSummary
}

/// A change made by another process on a shared database.
public enum FleetSignal: Sendable, Equatable {
    /// These instances' desired state changed, or they were deleted: wake their long-polls.
    case desiredStateChanged([String])
    /// A rollout has work for the engine (a wave finished, an operator paused, resumed or started it).
    case rolloutWork(String)
    /// Changes may have gone unseen (the notification connection was lost): check everything again.
    case resync
    /// This process took over driving rollouts.
    case drivingRollouts
}

/// The fleet in numbers, across organizations.
public struct FleetSummary: Sendable, Equatable {
    public var instances: Int
    public var rolloutsByStatus: [RolloutStatus: Int]

    public init(instances: Int, rolloutsByStatus: [RolloutStatus: Int]) {
        self.instances = instances
        self.rolloutsByStatus = rolloutsByStatus
    }
}
