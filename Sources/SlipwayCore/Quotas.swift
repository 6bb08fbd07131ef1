import Foundation

/// How much one organization may hold, so that one tenant cannot take the server from the others.
public struct OrganizationQuotas: Sendable, Equatable, CustomStringConvertible {
    public enum Resource: String, Sendable, CaseIterable {
        case services
        case imageConfigs = "image-configs"
        case instances
        case imageRegistries = "image-registries"
        case liveRollouts = "live-rollouts"

        var noun: String {
            switch self {
            case .services: "services"
            case .imageConfigs: "image configs"
            case .instances: "instances"
            case .imageRegistries: "image registries"
            case .liveRollouts: "live rollouts (pending, in progress, paused or rolling back)"
            }
        }
    }

    public var limits: [Resource: Int] = [
        .services: 1_000, .imageConfigs: 10_000, .instances: 100_000, .imageRegistries: 100, .liveRollouts: 500,
    ]

    public init() {}

    public subscript(resource: Resource) -> Int {
        get { limits[resource] ?? .max }
        set { limits[resource] = newValue }
    }

    /// Throws 409 when an organization that holds `held` of `resource` may not add another.
    public func checkRoom(for resource: Resource, held: Int) throws {
        let limit = self[resource]
        guard held < limit else {
            throw SlipwayError.invalidState(
                "the organization has \(held) \(resource.noun), its quota is \(limit); "
                    + "delete some first, or ask the operator to raise it (slipwayd --quota \(resource.rawValue)=N)")
        }
    }

    /// Reads `services=100,instances=5000`: each name from ``Resource``, each value a whole number from 1 to
    /// 100,000,000. Names not given keep their defaults.
    public init(parsing text: String) throws {
        self.init()
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let resource = Resource(rawValue: parts[0]) else {
                throw SlipwayError.badRequest(
                    "a quota is NAME=N with NAME one of \(Resource.allCases.map(\.rawValue).joined(separator: ", ")); got '\(entry)'")
            }
            guard let limit = Int(parts[1]), (1...100_000_000).contains(limit) else {
                throw SlipwayError.badRequest("the quota for \(resource.rawValue) must be a whole number from 1 to 100000000; got '\(parts[1])'")
            }
            self[resource] = limit
        }
    }

    public var description: String {
        Resource.allCases.map { "\($0.rawValue)=\(self[$0])" }.joined(separator: ",")
    }
}

/// An upper bound on what each organization holds of the resources that grow large (instances, image
/// configs), for a store that is the database's only writer (SQLite): counting them on every add costs
/// time in proportion to what is held, in the one writer's transaction.
///
/// A count is read once; each add admitted raises the bound by one. Deletes only lower what is held, and
/// an add that rolled back leaves the bound higher than needed, so the bound never falls below what is
/// held. While it is below the quota there is room without counting; at the quota the store counts again,
/// so a refusal is always exact. With other writers (PostgreSQL replicas) see ``SharedQuotaBounds``.
public struct QuotaUsageBounds: Sendable {
    private struct Key: Hashable {
        var resource: OrganizationQuotas.Resource
        var organizationId: String
    }

    private var bounds: [Key: Int] = [:]

    public init() {}

    /// The resources worth bounding: the others are few by default, and counting them is cheap.
    public static func tracks(_ resource: OrganizationQuotas.Resource) -> Bool {
        resource == .instances || resource == .imageConfigs
    }

    /// True when one more of `resource` certainly fits under `limit` without counting; the add is then
    /// taken into the bound. False when the store must count.
    public mutating func admitWithoutCounting(_ resource: OrganizationQuotas.Resource, organizationId: String, limit: Int) -> Bool {
        let key = Key(resource: resource, organizationId: organizationId)
        guard let bound = bounds[key], bound < limit else { return false }
        bounds[key] = bound + 1
        return true
    }

    /// After counting: `held` were there and one more was admitted.
    public mutating func counted(_ resource: OrganizationQuotas.Resource, organizationId: String, held: Int) {
        bounds[Key(resource: resource, organizationId: organizationId)] = held + 1
    }
}

/// An upper bound on what each organization holds of the resources that grow large, for a database other
/// processes add to beside this one (PostgreSQL replicas).
///
/// Every add of such a resource takes a number from one sequence shared by the whole database before it
/// commits. When a count of an organization's rows is read in a snapshot taken after the sequence was read at
/// `addsBefore`, then at any later moment, with the sequence at `addsNow`:
///
///     held ≤ counted + concurrentWriters + (addsNow − addsBefore)
///
/// Rows added since the reading are in the difference (it counts every organization's adds, and rolled-back
/// ones, so it only ever overstates). Rows that had their number before it but were not yet committed when
/// counted are at most one per connection the database allows (`concurrentWriters`).
///
/// An add whose bound, plus the adds that may run unseen beside it (again one per connection), is within the
/// quota goes in without counting. Of all adds admitted this way, the one that read the sequence last saw a bound
/// covering every add but those open beside it, so the total stays within the quota. Nearer the quota the store
/// counts inside the adding transaction, so a refusal is always exact.
public struct SharedQuotaBounds: Sendable {
    private struct Key: Hashable {
        var resource: OrganizationQuotas.Resource
        var organizationId: String
    }

    private var counts: [Key: (held: Int, addsBefore: Int64)] = [:]

    public init() {}

    /// A count of `held`, read in a snapshot taken after the shared sequence stood at `addsBefore`.
    public mutating func counted(_ resource: OrganizationQuotas.Resource, organizationId: String, held: Int, addsBefore: Int64) {
        let key = Key(resource: resource, organizationId: organizationId)
        // A newer reading gives a tighter bound; an older one that arrives late must not replace it.
        if let known = counts[key], known.addsBefore > addsBefore { return }
        counts[key] = (held, addsBefore)
    }

    /// Whether one more add, made while the shared sequence stands at `addsNow`, surely fits under `limit`
    /// without counting.
    public func admitsWithoutCounting(
        _ resource: OrganizationQuotas.Resource, organizationId: String, addsNow: Int64, concurrentWriters: Int, limit: Int
    ) -> Bool {
        guard let known = counts[Key(resource: resource, organizationId: organizationId)], addsNow >= known.addsBefore,
            concurrentWriters >= 0
        else { return false }
        let addsSince = addsNow - known.addsBefore
        guard addsSince < Int64(limit) else { return false }
        return known.held + concurrentWriters + Int(addsSince) + concurrentWriters <= limit
    }
}
