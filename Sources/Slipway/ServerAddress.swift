import Foundation

/// Where a client may send tokens: over `https://` anywhere, over plain `http://` only to this machine.
public enum ServerAddress {
    /// Why `url` must not be used without `--insecure`, or nil when it may: plain `http://` to a host that is
    /// not loopback would carry tokens and desired state across the network in the clear.
    public static func plainHTTPRefusal(_ url: String, insecure: Bool) -> String? {
        guard !insecure, let parsed = URL(string: url), parsed.scheme?.lowercased() == "http" else { return nil }
        let host = (parsed.host ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if host == "localhost" || host == "::1" || host.hasPrefix("127.") { return nil }
        return "refusing plain http:// to \(host.isEmpty ? url : host): tokens would cross the network in the clear; "
            + "use an https:// URL, or pass --insecure to send them anyway"
    }
}
