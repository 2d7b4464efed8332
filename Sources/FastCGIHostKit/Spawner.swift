import FoundationEssentials
import Glibc

/// Starts worker processes by re-executing this binary with posix_spawn: never fork() a Swift
/// process, whose runtime and Foundation hold locks and threads a forked child would not have.
enum Spawner {
    /// Spawns `/proc/self/exe` with `arguments` (argv[1...]) and this process's environment. The
    /// child gets an empty signal mask and default dispositions for the signals it must obey; it
    /// inherits every descriptor not marked close-on-exec.
    static func spawnSelf(arguments: [String]) throws -> pid_t {
        try spawn(program: "/proc/self/exe", arguments: arguments)
    }

    /// Spawns `program` (this binary's file, perhaps upgraded since) as a worker.
    static func spawn(program: String, arguments: [String]) throws -> pid_t {
        let argv0 = CommandLine.arguments.first ?? "fcgi-host"
        let env = ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        return try spawn(path: program, argv: [argv0] + arguments, env: env)
    }

    /// This program's file on disk, for starting workers from: what /proc/self/exe names at
    /// start (a later upgrade replaces the file at that path). /proc/self/exe when unknown.
    static func programPath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "/proc/self/exe" }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.hasSuffix(" (deleted)") ? String(path.dropLast(10)) : path
    }

    static func spawn(path: String, argv: [String], env: [String]) throws -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let cEnv: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, nil, &attr, cArgs, cEnv)
        guard rc == 0 else { throw HostError.system("posix_spawn \(path)", errno: rc) }
        return pid
    }
}

/// How a child ended, from waitpid's status word.
struct ExitStatus: CustomStringConvertible {
    var raw: Int32

    var signal: Int32? { raw & 0x7F != 0 && raw & 0x7F != 0x7F ? raw & 0x7F : nil }
    var code: Int32? { raw & 0x7F == 0 ? (raw >> 8) & 0xFF : nil }
    /// Exit code 0: a clean stop, such as a recycle after --max-requests.
    var isClean: Bool { code == 0 }

    var description: String {
        if let code { return "exit \(code)" }
        if let signal { return "signal \(signal)" }
        return "status \(raw)"
    }
}
