import Foundation

/// A plain TCP connection from a chosen loopback address (127.0.0.2, …), for what an HTTP client library hides:
/// another client address, sockets left idle, requests sent a few bytes at a time.
final class RawSocket: @unchecked Sendable {
    let descriptor: Int32

    /// Connects from `source` to `127.0.0.1:port`.
    init(from source: String, toPort port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RawSocketError("socket: \(String(cString: strerror(errno)))") }
        var local = Self.address(source, port: 0)
        var remote = Self.address("127.0.0.1", port: port)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else {
            close(descriptor)
            throw RawSocketError("bind \(source): \(String(cString: strerror(errno)))")
        }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw RawSocketError("connect: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
            throw RawSocketError("send: \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the server has closed the connection, waiting at most `seconds` for it (reading and discarding
    /// whatever it sends first).
    func closedByServer(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let remaining = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard poll(&poller, 1, remaining) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { return true }
        }
        return false
    }

    /// Sends `text` a byte at a time, `every` seconds apart, until the server closes the connection (true) or
    /// `seconds` have passed (false).
    func trickle(_ text: String, every interval: Double, closedWithin seconds: Double) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        for byte in text.utf8 where Date() < deadline {
            if Glibc.send(descriptor, [byte], 1, Int32(MSG_NOSIGNAL)) != 1 { return true }
            if closedByServer(within: interval) { return true }
        }
        return false
    }

    /// Sends a whole request and reads the answer until the server closes (send `Connection: close`).
    func exchange(_ request: String, timeout seconds: Double = 30) throws -> String {
        try send(request)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) > 0 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count <= 0 { break }
            answer += buffer.prefix(count)
        }
        return String(decoding: answer, as: UTF8.self)
    }

    private static func address(_ ip: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, ip, &address.sin_addr)
        return address
    }
}

struct RawSocketError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
