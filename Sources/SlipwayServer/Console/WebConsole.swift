import Foundation
import Hummingbird

/// The web console under `/ui/`: one page, its script and its style sheet, read once from the
/// `Console/ui` resources (`index.html`, `console.js`, `console.css`) and served as they are.
///
/// The console holds no data: its script calls the same API as the CLI, under the same authorization.
/// The policy forbids inline script and style, framing, and connections anywhere but this server.
struct WebConsole: Sendable {
    struct Asset: Sendable {
        let bytes: ByteBuffer
        let contentType: String
    }
    let page: Asset
    let script: Asset
    let styles: Asset

    static let securityHeaders: HTTPFields = [
        .init("Content-Security-Policy")!:
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        .init("X-Content-Type-Options")!: "nosniff",
        .init("Referrer-Policy")!: "no-referrer",
        .init("X-Frame-Options")!: "DENY",
    ]

    static func load() throws -> WebConsole {
        func asset(_ name: String, _ type: String, _ contentType: String) throws -> Asset {
            guard let url = Bundle.module.url(forResource: name, withExtension: type, subdirectory: "ui"), let data = try? Data(contentsOf: url) else {
                throw ConfigurationError(
                    "the web console's ui/\(name).\(type) is missing from Slipway_SlipwayServer.resources; install that folder beside slipwayd")
            }
            return Asset(bytes: ByteBuffer(bytes: data), contentType: contentType)
        }
        return WebConsole(
            page: try asset("index", "html", "text/html; charset=utf-8"), script: try asset("console", "js", "text/javascript; charset=utf-8"),
            styles: try asset("console", "css", "text/css; charset=utf-8"))
    }

    func addRoutes(to router: Router<SlipwayRequestContext>) {
        // `/ui` answers `/ui/` too. `/ui/rollout?service=…&imageConfig=…` is the older address of a rollout's page: the script opens the rollout view.
        for path in ["ui", "ui/rollout"] { router.get(RouterPath(path)) { _, _ in respond(page) } }
        router.get("ui/console.js") { _, _ in respond(script) }
        router.get("ui/console.css") { _, _ in respond(styles) }
    }

    private func respond(_ asset: Asset) -> Response {
        var headers = Self.securityHeaders
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.bytes))
    }
}
