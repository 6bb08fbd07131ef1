import Foundation
import SlipwayRegistry

/// The throwaway registries scripts/test.sh starts (scripts/registry.sh): plain HTTP on 127.0.0.1.
///
/// - `SLIPWAY_TEST_REGISTRY`: host:port of an anonymous registry
/// - `SLIPWAY_TEST_REGISTRY_BASIC`: host:port of one with htpasswd basic auth
/// - `SLIPWAY_TEST_REGISTRY_TOKEN`: host:port of one with Docker token auth (scripts/token-server.sh)
/// - `SLIPWAY_TEST_REGISTRY_USER` / `SLIPWAY_TEST_REGISTRY_PASSWORD`: the user of both
///
/// Tests that need one use `.enabled(if: TestRegistry.anonymous != nil)` (and so on) to be skipped
/// cleanly when it is not set.
public enum TestRegistry {
    static func environment(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// The anonymous registry, or nil if `SLIPWAY_TEST_REGISTRY` is not set.
    public static var anonymous: RegistryAccess? {
        environment("SLIPWAY_TEST_REGISTRY").map { RegistryAccess(host: $0, insecure: true) }
    }

    /// The basic-auth registry with the test user's credentials, or nil if not set.
    public static var basic: RegistryAccess? {
        guard let host = environment("SLIPWAY_TEST_REGISTRY_BASIC"), let user = username, let password else { return nil }
        return RegistryAccess(host: host, insecure: true, username: user, password: password)
    }

    /// The token-auth registry with the test user's credentials, or nil if not set.
    public static var token: RegistryAccess? {
        guard let host = environment("SLIPWAY_TEST_REGISTRY_TOKEN"), let user = username, let password else { return nil }
        return RegistryAccess(host: host, insecure: true, username: user, password: password)
    }

    public static var username: String? { environment("SLIPWAY_TEST_REGISTRY_USER") }
    public static var password: String? { environment("SLIPWAY_TEST_REGISTRY_PASSWORD") }

    /// A repository name no other test uses (`<prefix>-<random>`), lowercase as the API requires.
    public static func uniqueRepository(_ prefix: String = "test") -> String {
        let suffix = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        return "slipway/\(prefix.lowercased())-\(suffix)"
    }
}
