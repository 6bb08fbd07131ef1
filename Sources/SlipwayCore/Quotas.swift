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
