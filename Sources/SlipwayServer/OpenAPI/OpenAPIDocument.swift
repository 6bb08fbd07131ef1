import Foundation

/// Slipway's OpenAPI document, served byte for byte as `openapi.yaml` beside this file: the YAML is a
/// SwiftPM resource, so it is the only copy (it ships as `Slipway_SlipwayServer.resources` beside `slipwayd`).
enum OpenAPIDocument {
    static func load() throws -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            throw ConfigurationError(
                "the OpenAPI document openapi.yaml is missing from Slipway_SlipwayServer.resources; install that folder beside slipwayd")
        }
        return text
    }
}
