import FoundationEssentials
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One run of a local executable, CGI-style: `input` on its standard input, its standard
/// output (up to a cap) and the tail of its standard error collected, in a process group of
/// its own so that it and anything it forks can be killed together.
///
/// `run` blocks its thread until the program has exited and its group is gone, or `stop()`
/// (any thread) or the deadline killed the group.
final class ChildProcess: @unchecked Sendable {
    struct Outcome {
        enum Ending: Equatable {
            case exited(Int32)
            case signalled(Int32)
            /// Killed by us: the deadline passed or `stop()` was called.
            case stopped
        }
        var ending: Ending
        var output: Data
        /// True when the output went past the cap and the rest was read and dropped.
        var outputTruncated: Bool
        /// The last bytes of standard error.
        var errorTail: Data
    }

    struct LaunchError: Error, CustomStringConvertible {
        var description: String
    }

    /// The bytes of standard error kept for a message.
    static let errorTailBytes = 2048
    /// How long the pipes may stay open once the program exited and its group was killed
    /// (a descendant that left the group with setsid may hold them).
    static let drainGraceSeconds = 1.0

    private let pid: pid_t
    private struct State {
        var stopRequested = false
        /// Set once waitpid collected the program: its pid may then belong to someone else.
        var reaped = false
    }
    private let state = Mutex(State())

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `path` with `arguments` and exactly `environment` and runs it
    /// to its end. `started` receives the handle as soon as the process exists, so a
    /// canceller can `stop()` it.
    static func run(path: String, arguments: [String], environment: [String: String],
                    input: Data, maxOutputBytes: Int, deadline: @escaping () -> Double,
                    started: (ChildProcess) -> Void) throws -> Outcome {
        ignoreBrokenPipes
        var stdin: [Int32] = [-1, -1], stdout: [Int32] = [-1, -1], stderr: [Int32] = [-1, -1]
        guard makePipe(&stdin), makePipe(&stdout), makePipe(&stderr) else {
            for fd in stdin + stdout + stderr where fd >= 0 { close(fd) }
            throw LaunchError(description: "cannot make pipes: \(String(cString: strerror(errno)))")
        }
        let pid: pid_t
        do {
            pid = try spawn(path: path, arguments: arguments, environment: environment,
                            stdin: stdin[0], stdout: stdout[1], stderr: stderr[1])
        } catch {
            for fd in stdin + stdout + stderr { close(fd) }
            throw error
        }
        close(stdin[0]); close(stdout[1]); close(stderr[1])
        let child = ChildProcess(pid: pid)
        started(child)
        return child.communicate(stdin: stdin[1], stdout: stdout[0], stderr: stderr[0], input: input,
                                 maxOutputBytes: maxOutputBytes, deadline: deadline)
    }

    /// Kills the program's whole process group now.
    func stop() {
        state.withLock { s in
            s.stopRequested = true
            if !s.reaped { kill(-pid, SIGKILL) }
        }
    }

    /// A channel whose ends no other child inherits, not even one spawned by another thread
    /// at the same instant (posix_spawn's dup2 clears the flag on the copies the program gets).
    private static func makePipe(_ fds: inout [Int32]) -> Bool {
        socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0
    }

    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    private static func spawn(path: String, arguments: [String], environment: [String: String],
                              stdin: Int32, stdout: Int32, stderr: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group (so the deadline kills its children too), no signal blocked or
        // ignored because this thread happened to block or ignore it.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid = pid_t()
        let code = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard code == 0 else {
            throw LaunchError(description: "cannot start \(path): \(String(cString: strerror(code)))")
        }
        return pid
    }

    private func communicate(stdin: Int32, stdout: Int32, stderr: Int32, input: Data, maxOutputBytes: Int,
                             deadline: () -> Double) -> Outcome {
        var input = input
        var written = 0
        var inputFD: Int32 = stdin
        var output = Data(), truncated = false, errorTail = Data()
        var open: [Int32] = [stdout, stderr]
        for fd in [stdin, stdout, stderr] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if input.isEmpty { close(inputFD); inputFD = -1 }
        var ending: Outcome.Ending?
        var drainUntil: Double?
        var buffer = [UInt8](repeating: 0, count: 65536)

        while true {
            if ending == nil, let status = reap(block: false) {
                ending = status
                // Whatever it forked and left behind goes with it.
                kill(-pid, SIGKILL)
                drainUntil = Self.now() + Self.drainGraceSeconds
            }
            if open.isEmpty && inputFD < 0, ending != nil { break }
            if state.withLock({ $0.stopRequested }) || (ending == nil && deadline() <= 0) {
                stop()
                _ = reap(block: true)
                if ending == nil { ending = .stopped }
                break
            }
            if let drainUntil, Self.now() > drainUntil { break }

            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if inputFD >= 0 { fds.append(pollfd(fd: inputFD, events: Int16(POLLOUT), revents: 0)) }
            // Short ticks: the program's exit is noticed by waitpid, not by a descriptor.
            let wait = Int32(max(0, min(50, deadline() * 1000)))
            _ = poll(&fds, nfds_t(fds.count), fds.isEmpty ? 0 : wait)
            if fds.isEmpty { usleep(UInt32(wait) * 1000) }
            for entry in fds where entry.revents != 0 {
                if entry.fd == inputFD {
                    let n = input.withUnsafeBytes { raw in write(inputFD, raw.baseAddress! + written, raw.count - written) }
                    if n > 0 { written += n }
                    if n < 0 && errno != EAGAIN && errno != EINTR || written >= input.count {
                        close(inputFD)
                        inputFD = -1
                        input = Data()
                    }
                    continue
                }
                let n = read(entry.fd, &buffer, buffer.count)
                if n > 0 {
                    if entry.fd == stdout {
                        let room = max(0, maxOutputBytes - output.count)
                        output.append(contentsOf: buffer[0..<min(n, room)])
                        if n > room { truncated = true }
                    } else {
                        errorTail.append(contentsOf: buffer[0..<n])
                        if errorTail.count > Self.errorTailBytes { errorTail = errorTail.suffix(Self.errorTailBytes) }
                    }
                } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    close(entry.fd)
                    open.removeAll { $0 == entry.fd }
                }
            }
        }
        for fd in open { close(fd) }
        if inputFD >= 0 { close(inputFD) }
        if ending == nil || ending == .stopped { _ = reap(block: true) }
        // Our own SIGKILL may be seen as the program's death before the stop request is.
        if case .signalled? = ending, state.withLock({ $0.stopRequested }) { ending = .stopped }
        return Outcome(ending: ending ?? .stopped, output: output, outputTruncated: truncated, errorTail: errorTail)
    }

    /// The program's end once it has exited; nil while it runs.
    private var reaped: Outcome.Ending?

    private func reap(block: Bool) -> Outcome.Ending? {
        if let reaped { return reaped }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, block ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return nil }
        state.withLock { $0.reaped = true }
        let signal = status & 0x7f
        let ending: Outcome.Ending = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        reaped = ending
        return ending
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
