#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// C strings handed to libpq, kept alive exactly for the duration of one call.
enum LibPQStrings {
    /// Runs `body` with a NULL-terminated array of C strings that live for the call.
    static func withArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Lays the bind values out in one buffer of NUL-terminated strings and passes libpq an
    /// array pointing into it (NULL entries for SQL NULL); no per-value allocation.
    static func withBinds<R>(
        _ binds: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R
    ) throws -> R {
        if binds.isEmpty { return body(nil) }
        var buffer: [CChar] = []
        buffer.reserveCapacity(binds.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 })
        var offsets: [Int?] = []
        offsets.reserveCapacity(binds.count)
        for (index, bind) in binds.enumerated() {
            guard let bind else {
                offsets.append(nil)
                continue
            }
            offsets.append(buffer.count)
            for byte in bind.utf8 {
                // Text-format values end at the first NUL; better to refuse than to truncate.
                if byte == 0 {
                    throw PostgresError(.encoding, message: "parameter $\(index + 1) contains a NUL byte")
                }
                buffer.append(CChar(bitPattern: byte))
            }
            buffer.append(0)
        }
        buffer.append(0)  // never empty, so baseAddress is never nil
        return buffer.withUnsafeBufferPointer { storage in
            let base = storage.baseAddress!
            let pointers: [UnsafePointer<CChar>?] = offsets.map { offset in offset.map { base + $0 } }
            return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
