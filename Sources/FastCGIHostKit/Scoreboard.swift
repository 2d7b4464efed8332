import FoundationEssentials
import Glibc
import Synchronization

/// PHP-FPM's scoreboard: one shared-memory page set that the master and every worker map, with
/// master fields and one fixed-size slot per worker. Every field is a 64-bit atomic word; each
/// slot is written only by its worker (and by the master between two workers' lives).
///
/// The backing file is unlinked as soon as it is open: workers inherit the descriptor, so nothing
/// is left in /dev/shm even after a `kill -9`.
final class Scoreboard {
    enum Header: Int {
        case magic, slotCount, startTimeMs, respawns, crashes, recycles, maxActive, masterPid, stopping
        /// Reloads the master has made (SIGHUP, SIGUSR2).
        case reloads
    }

    enum Field: Int {
        case pid, state, generation, startedAtMs
        case requests, requestsTotal, connections, connectionsTotal, slow, slowTotal
        case requestStartMs, lastRequestMs, lastRequestEndMs
        /// Requests answered in a group of two or more (one responder call, e.g. one commit).
        case grouped, groupedTotal
        /// A sequence lock around the request text: odd while it is being written.
        case textSequence, textLength
        case text // 12 words of UTF-8 follow
    }

    enum State: UInt64 {
        case empty = 0, starting, idle, active, exiting

        var name: String {
            switch self {
            case .empty: return "empty"
            case .starting: return "starting"
            case .idle: return "idle"
            case .active: return "active"
            case .exiting: return "exiting"
            }
        }
    }

    static let magic: UInt64 = 0x4643_4749_484F_5354 // "FCGIHOST"
    static let headerWords = 16
    static let slotWords = 32
    static let textWords = 12

    let fd: Int32
    let slotCount: Int
    private let base: UnsafeMutableRawPointer
    private let length: Int
    private let words: UnsafeMutablePointer<Atomic<UInt64>>

    private init(fd: Int32, slotCount: Int, base: UnsafeMutableRawPointer, length: Int) {
        self.fd = fd
        self.slotCount = slotCount
        self.base = base
        self.length = length
        self.words = base.bindMemory(to: Atomic<UInt64>.self, capacity: length / 8)
    }

    deinit {
        munmap(base, length)
        close(fd)
    }

    static func byteLength(slots: Int) -> Int { (headerWords + slots * slotWords) * 8 }

    /// The master's board: a new unlinked file under /dev/shm (or the temp directory), mapped shared.
    static func create(slots: Int) throws -> Scoreboard {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp")
        var template = Array("\(dir)/fcgi-host-scoreboard.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw HostError.system("create the scoreboard in \(dir)") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        let length = byteLength(slots: slots)
        guard ftruncate(fd, off_t(length)) == 0 else {
            close(fd)
            throw HostError.system("size the scoreboard")
        }
        let board = try map(fd: fd, slots: slots)
        board.set(.magic, magic)
        board.set(.slotCount, UInt64(slots))
        board.set(.startTimeMs, nowMs())
        board.set(.masterPid, UInt64(getpid()))
        return board
    }

    /// A worker's view of the master's board, from the inherited descriptor.
    static func attach(fd: Int32) throws -> Scoreboard {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw HostError.system("fstat the scoreboard") }
        let slots = (Int(st.st_size) / 8 - headerWords) / slotWords
        guard slots > 0, Int(st.st_size) == byteLength(slots: slots) else {
            throw HostError(.system, "descriptor \(fd) is not a scoreboard")
        }
        let board = try map(fd: fd, slots: slots)
        guard board.get(.magic) == magic else { throw HostError(.system, "descriptor \(fd) is not a scoreboard") }
        return board
    }

    private static func map(fd: Int32, slots: Int) throws -> Scoreboard {
        let length = byteLength(slots: slots)
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            close(fd)
            throw HostError.system("map the scoreboard")
        }
        return Scoreboard(fd: fd, slotCount: slots, base: base, length: length)
    }

    static func nowMs() -> UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1000)) }

    // MARK: words

    func get(_ h: Header) -> UInt64 { words[h.rawValue].load(ordering: .acquiring) }
    func set(_ h: Header, _ v: UInt64) { words[h.rawValue].store(v, ordering: .releasing) }
    func add(_ h: Header, _ v: UInt64 = 1) { words[h.rawValue].wrappingAdd(v, ordering: .acquiringAndReleasing) }

    private func index(_ slot: Int, _ f: Field, _ extra: Int = 0) -> Int {
        precondition(slot >= 0 && slot < slotCount, "no scoreboard slot \(slot)")
        return Self.headerWords + slot * Self.slotWords + f.rawValue + extra
    }

    func get(_ slot: Int, _ f: Field) -> UInt64 { words[index(slot, f)].load(ordering: .acquiring) }
    func set(_ slot: Int, _ f: Field, _ v: UInt64) { words[index(slot, f)].store(v, ordering: .releasing) }
    func add(_ slot: Int, _ f: Field, _ v: UInt64 = 1) { words[index(slot, f)].wrappingAdd(v, ordering: .acquiringAndReleasing) }

    func state(_ slot: Int) -> State { State(rawValue: get(slot, .state)) ?? .empty }
    func setState(_ slot: Int, _ s: State) { set(slot, .state, s.rawValue) }

    /// Raises `maxActive` to the number of active slots now, if that is higher.
    func noteActive() {
        let active = UInt64((0..<slotCount).filter { state($0) == .active }.count)
        var current = get(.maxActive)
        while active > current {
            let (exchanged, original) = words[Header.maxActive.rawValue].compareExchange(
                expected: current, desired: active, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
    }

    // MARK: request text

    /// Stores a short description of the slot's request ("GET /health"), truncated to 96 bytes.
    func setText(_ slot: Int, _ text: String) {
        var bytes = Array(text.utf8.prefix(Self.textWords * 8))
        let count = bytes.count
        bytes += [UInt8](repeating: 0, count: Self.textWords * 8 - count)
        add(slot, .textSequence) // odd: writing
        for w in 0..<Self.textWords {
            var word: UInt64 = 0
            for b in 0..<8 { word |= UInt64(bytes[w * 8 + b]) << (8 * UInt64(b)) }
            words[index(slot, .text, w)].store(word, ordering: .relaxed)
        }
        set(slot, .textLength, UInt64(count))
        add(slot, .textSequence) // even: done
    }

    /// The slot's request text, or "" when a writer kept it busy.
    func text(_ slot: Int) -> String {
        for _ in 0..<8 {
            let before = get(slot, .textSequence)
            guard before % 2 == 0 else { continue }
            let count = Int(min(get(slot, .textLength), UInt64(Self.textWords * 8)))
            var bytes: [UInt8] = []
            for w in 0..<Self.textWords {
                let word = words[index(slot, .text, w)].load(ordering: .relaxed)
                for b in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: word >> (8 * UInt64(b)))) }
            }
            if get(slot, .textSequence) == before { return String(decoding: bytes.prefix(count), as: UTF8.self) }
        }
        return ""
    }

    /// Clears a slot's per-process fields before its next worker is spawned (which then writes its
    /// own pid and state); totals survive.
    func resetForNewWorker(_ slot: Int) {
        for f: Field in [.pid, .requests, .connections, .slow, .grouped, .requestStartMs, .lastRequestMs, .lastRequestEndMs] { set(slot, f, 0) }
        setText(slot, "")
        set(slot, .startedAtMs, Self.nowMs())
        add(slot, .generation)
        setState(slot, .starting)
    }
}
