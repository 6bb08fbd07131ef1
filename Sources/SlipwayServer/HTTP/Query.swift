import Foundation
import Hummingbird
import SlipwayCore

extension Request {
    /// A query parameter; an empty value (`?ProductTierVersion=`) counts as absent.
    func query(_ name: String) -> String? {
        guard let value = uri.queryParameters[name[...]], !value.isEmpty else { return nil }
        return String(value)
    }

    /// The page asked for with `pageSize` and `nextPageToken`.
    func pageRequest(defaultSize: Int = 100) throws -> PageRequest {
        try PageRequest.parse(pageSize: query("pageSize"), nextPageToken: query("nextPageToken"), defaultSize: defaultSize)
    }
}

extension SlipwayRequestContext {
    /// A path parameter that the route guarantees, percent-decoded.
    func path(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }
}
