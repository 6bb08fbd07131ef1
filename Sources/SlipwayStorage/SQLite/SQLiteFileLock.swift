import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Keeps a second process off a SQLite database: two `slipwayd` on one file would each trust caches the
/// other's writes make stale, and both would drive the same rollouts.
///
/// A POSIX record lock on `<database>.lock`: the kernel drops it when the process dies, however it dies,
/// and tells a second process which one holds it. Record locks belong to a process, so stores opened again
/// inside one process (a restart in the tests) share one descriptor, counted, closed with the last of them.
final class SQLiteFileLock: Sendable {
    private struct Held {
        var descriptor: Int32
        var count: Int
    }

    private static let held = Mutex<[String: Held]>([:])
    private let path: String

    init(database: String) throws {
        let path = URL(fileURLWithPath: database).standardizedFileURL.path + ".lock"
        self.path = path
        try Self.held.withLock { held in
            if var known = held[path] {
                known.count += 1
                held[path] = known
                return
            }
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw StoreOpeningError("cannot create the lock file \(path): \(String(cString: strerror(errno)))")
            }
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            if fcntl(descriptor, F_SETLK, &lock) != 0 {
                var holder = flock()
                holder.l_type = Int16(F_WRLCK)
                holder.l_whence = Int16(SEEK_SET)
                let pid = fcntl(descriptor, F_GETLK, &holder) == 0 && holder.l_type != Int16(F_UNLCK) ? "process \(holder.l_pid)" : "another process"
                close(descriptor)
                throw StoreOpeningError(
                    "the SQLite database \(database) is in use by \(pid); a SQLite file serves one slipwayd at a time "
                        + "(stop that one, or run several replicas on PostgreSQL)")
            }
            // The pid, for people: the lock itself is what counts.
            let text = "\(getpid())\n"
            _ = ftruncate(descriptor, 0)
            _ = text.withCString { write(descriptor, $0, strlen($0)) }
            held[path] = Held(descriptor: descriptor, count: 1)
        }
    }

    deinit {
        Self.held.withLock { held in
            guard var known = held[path] else { return }
            known.count -= 1
            if known.count == 0 {
                close(known.descriptor)
                held[path] = nil
            } else {
                held[path] = known
            }
        }
    }
}
