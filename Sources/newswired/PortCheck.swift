import Foundation
import NIOCore

/// Listening-address problems in the user's terms, found before the server does any work.
enum PortCheck {
    /// Throws ``StartupError`` when `host:port` cannot be listened on (in use, not this machine's address, needs
    /// privileges). Binds a throwaway socket with SO_REUSEADDR, as the server's listener does, so a port left in
    /// TIME_WAIT by a previous run is not reported as in use. Port 0 always works.
    static func ensureFree(host: String, port: Int, what: String?) throws {
        guard port != 0 else { return }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw StartupError(message: "\(label(what, host, port)): cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else { return }  // let the server report it
        defer { close(descriptor) }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            throw StartupError(message: describe(errno: errno, host: host, port: port, what: what))
        }
    }

    /// A listener error (NIO's `IOError` from bind, or anything else) as one line.
    static func describe(_ error: any Error, host: String, port: Int, what: String?) -> String {
        if let error = error as? IOError { return describe(errno: error.errnoCode, host: host, port: port, what: what) }
        if let error = error as? StartupError { return error.message }
        return "\(label(what, host, port)): \(error)"
    }

    static func describe(errno code: Int32, host: String, port: Int, what: String?) -> String {
        let where_ = label(what, host, port)
        switch code {
        case EADDRINUSE:
            return what == nil
                ? "\(where_) is already in use (another newswired?); pick another with --port"
                : "\(where_) is already in use; pick another ADDR:PORT"
        case EADDRNOTAVAIL: return "\(where_): \(host) is not an address of this machine"
        case EACCES: return "\(where_): permission denied (ports below 1024 need privileges)"
        default: return "\(where_): cannot listen there (\(String(cString: strerror(code))))"
        }
    }

    private static func label(_ what: String?, _ host: String, _ port: Int) -> String {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return what.map { "\($0) \(address)" } ?? address
    }
}
