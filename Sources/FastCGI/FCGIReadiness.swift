import Glibc

/// Waits for any of several descriptors to turn readable, with a microsecond timeout.
///
/// `poll` counts its timeout in milliseconds, which is too coarse for a group-commit wait of a
/// few hundred microseconds. `ppoll` is hidden from Swift behind `_GNU_SOURCE`, so this uses
/// `select`, whose timeout is a `timeval`; descriptors past `FD_SETSIZE` fall back to `poll`
/// with the timeout rounded up to a millisecond.
enum FCGIReadiness {
    static let fdSetSize = MemoryLayout<fd_set>.size * 8

    /// The indices of `fds` that are readable (or at EOF, or in error) within `microseconds`.
    /// An interrupted wait returns none, as a timeout would.
    static func readable(_ fds: [Int32], microseconds: Int) -> [Int] {
        guard !fds.isEmpty else { return [] }
        guard let highest = fds.max(), highest < fdSetSize, fds.allSatisfy({ $0 >= 0 }) else {
            return pollFallback(fds, microseconds: microseconds)
        }
        var set = fd_set()
        withUnsafeMutableBytes(of: &set) { raw in
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            for fd in fds { raw[Int(fd) / 8] |= UInt8(1 << (Int(fd) % 8)) }
        }
        var timeout = timeval(tv_sec: microseconds / 1_000_000, tv_usec: microseconds % 1_000_000)
        guard select(highest + 1, &set, nil, nil, &timeout) > 0 else { return [] }
        return withUnsafeBytes(of: &set) { raw in
            fds.indices.filter { raw[Int(fds[$0]) / 8] & UInt8(1 << (Int(fds[$0]) % 8)) != 0 }
        }
    }

    static func pollFallback(_ fds: [Int32], microseconds: Int) -> [Int] {
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard poll(&entries, nfds_t(entries.count), Int32((microseconds + 999) / 1000)) > 0 else { return [] }
        return entries.indices.filter { entries[$0].revents != 0 }
    }
}
