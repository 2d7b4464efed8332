@testable import FastCGI
import Foundation
import Glibc
import Synchronization
import Testing

/// The accept loop on a real unix socket, one worker thread, as a worker process runs it.
struct FCGIServeLoopTests {
    final class Stop: Sendable {
        let flag = Atomic<Bool>(false)
    }

    /// Runs a serve loop on a fresh unix socket until `body` returns, then stops and joins it.
    static func withServer(maxRequests: Int = 0, groupWait: Double = 0, responder: TestResponder = TestResponder(),
                           _ body: (FCGIListenAddress) throws -> Void) throws -> FCGIServeLoop.Outcome? {
        let dir = try TempDir()
        defer { withExtendedLifetime(dir) {} }
        let address = FCGIListenAddress.unix(path: dir.path + "/loop.sock")
        let listener = try FCGIListener.bind(address, backlog: 16)
        let listenFD = dup(listener.fd)
        listener.close()
        let stop = Stop()
        let outcome = Mutex<FCGIServeLoop.Outcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            var loop = FCGIServeLoop(options: Fixture.options())
            loop.maxRequests = maxRequests
            loop.groupWaitSeconds = groupWait
            loop.idleCheckSeconds = 0.05
            loop.shouldStop = { stop.flag.load(ordering: .relaxed) }
            let result = try? loop.run(listener: FCGIListener(adopting: listenFD, address: address), responder: responder)
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.start()
        defer {
            stop.flag.store(true, ordering: .relaxed)
            done.wait()
        }
        try body(address)
        if maxRequests > 0 { done.wait(); done.signal() }
        return outcome.withLock { $0 }
    }

    @Test func anIdleKeptConnectionDoesNotStarveANewOneAndStaysUsable() throws {
        _ = try Self.withServer { (address: FCGIListenAddress) throws in
            let idle = try FCGIClient(connectingTo: address, timeout: 10)
            #expect(try idle.request(params: Fixture.params("/echo")).http?.status == 200)
            // One worker holds `idle`'s kept connection: a newcomer must still be served...
            let fresh = try FCGIClient(connectingTo: address, timeout: 10)
            #expect(try fresh.request(params: Fixture.params("/echo")).http?.status == 200)
            // ...and the kept one was not dropped to make room (that would race its reuse).
            #expect(try idle.request(id: 2, params: Fixture.params("/echo")).http?.status == 200)
        }
    }

    @Test func requestsWaitingOnManyKeptConnectionsAreAllAnswered() throws {
        _ = try Self.withServer { (address: FCGIListenAddress) throws in
            let clients = try (0..<8).map { _ in try FCGIClient(connectingTo: address, timeout: 10) }
            for round in 1...3 {
                // Every connection has a request waiting before any answer is read, as when
                // nginx has more requests in flight than there are workers.
                for client in clients {
                    try client.send(FCGIClient.requestRecords(id: UInt16(round), params: Fixture.params("/echo")))
                }
                for client in clients {
                    #expect(try client.readResponse(id: UInt16(round)).http?.status == 200)
                }
            }
        }
    }

    @Test func aConnectionThatHasNotSpokenYetIsStillServed() throws {
        _ = try Self.withServer { (address: FCGIListenAddress) throws in
            let slow = try FCGIClient(connectingTo: address, timeout: 10)
            usleep(100_000) // let the worker take `slow` first
            let waiting = try FCGIClient(connectingTo: address, timeout: 10)
            usleep(200_000) // a newcomer is pending all this time; `slow` has said nothing yet
            #expect(try slow.request(params: Fixture.params("/echo")).http?.status == 200)
            #expect(try waiting.request(params: Fixture.params("/echo")).http?.status == 200)
        }
    }

    @Test func aMalformedConnectionDoesNotHurtTheNextOne() throws {
        _ = try Self.withServer { (address: FCGIListenAddress) throws in
            let bad = try FCGIClient(connectingTo: address, timeout: 10)
            try bad.send(raw: Array("this is not FastCGI at all".utf8))
            #expect(try bad.readRecord() == nil)
            let good = try FCGIClient(connectingTo: address, timeout: 10)
            #expect(try good.request(params: Fixture.params("/echo")).http?.status == 200)
        }
    }

    @Test func theLoopReturnsAfterMaxRequests() throws {
        let outcome = try Self.withServer(maxRequests: 3) { (address: FCGIListenAddress) throws in
            let client = try FCGIClient(connectingTo: address, timeout: 10)
            for id in 1...3 { #expect(try client.request(id: UInt16(id), params: Fixture.params("/echo")).http?.status == 200) }
            #expect(try client.readRecord() == nil)
        }
        #expect(outcome == .maxRequestsReached)
    }

    @Test func staleSocketFilesAreReplacedAndLiveOnesRefused() throws {
        let dir = try TempDir()
        let address = FCGIListenAddress.unix(path: dir.path + "/s.sock")
        let first = try FCGIListener.bind(address, mode: 0o666)
        var st = stat()
        #expect(stat(dir.path + "/s.sock", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o666)
        #expect(throws: FCGIError.self) { try FCGIListener.bind(address) }
        first.close() // the file stays behind, stale
        let second = try FCGIListener.bind(address, mode: 0o660, group: "\(getgid())")
        #expect(stat(dir.path + "/s.sock", &st) == 0 && st.st_mode & 0o777 == 0o660)
        second.removeSocketFile()
        #expect(access(dir.path + "/s.sock", F_OK) != 0)
        _ = FileManager.default.createFile(atPath: dir.path + "/plain", contents: Data("x".utf8))
        #expect(throws: FCGIError.self) { try FCGIListener.bind(.unix(path: dir.path + "/plain")) }
        #expect(throws: FCGIError.self) { try FCGIListener.bind(address, group: "no-such-group-here") }
        #expect(access(dir.path + "/s.sock", F_OK) != 0, "a failed bind leaves its socket file behind")
    }

    @Test func tcpOnAnEphemeralLoopbackPort() throws {
        let listener = try FCGIListener.bind(.tcp(host: "127.0.0.1", port: 0))
        guard case .tcp(_, let port) = listener.address else { Issue.record("not TCP"); return }
        #expect(port != 0)
        let client = try FCGISocket.connect(to: listener.address)
        #expect(try listener.accept() != nil)
        client.close()
    }

    @Test(arguments: [
        ("unix:/run/conveyor.sock", FCGIListenAddress.unix(path: "/run/conveyor.sock")),
        ("/tmp/a.sock", .unix(path: "/tmp/a.sock")),
        ("127.0.0.1:9000", .tcp(host: "127.0.0.1", port: 9000)),
        ("localhost:9001", .tcp(host: "127.0.0.1", port: 9001)),
        ("9002", .tcp(host: "127.0.0.1", port: 9002)),
    ])
    func listenAddressesParse(_ text: String, _ expected: FCGIListenAddress) throws {
        #expect(try FCGIListenAddress(parsing: text) == expected)
    }

    @Test(arguments: ["", "unix:", "127.0.0.1:", "127.0.0.1:70000", "example.com:80", "foo:bar", "unix:/" + String(repeating: "x", count: 120)])
    func badListenAddressesAreRefused(_ text: String) {
        #expect(throws: FCGIError.self) { try FCGIListenAddress(parsing: text) }
    }
}

/// A temporary directory removed when the value goes away.
final class TempDir {
    let path: String

    init() throws {
        var template = Array("/tmp/fcgi-test-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw FCGIError.system("mkdtemp")
        }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Requests ready on several connections are answered by one call of the responder, and a
/// request that can share work waits a bounded time for recently answered neighbours.
struct FCGIGroupAnswerTests {
    /// Clients whose connections the worker has accepted and answered once (so they count as
    /// recently answered).
    static func warmClients(_ n: Int, _ address: FCGIListenAddress) throws -> [FCGIClient] {
        let clients = try (0..<n).map { _ in try FCGIClient(connectingTo: address, timeout: 10) }
        for client in clients { #expect(try client.request(params: Fixture.params("/echo")).http?.status == 200) }
        return clients
    }

    @Test func neighboursArrivingWithinTheWaitShareOneAnswer() throws {
        let responder = TestResponder()
        _ = try FCGIServeLoopTests.withServer(groupWait: 5, responder: responder) { address in
            let clients = try Self.warmClients(3, address)
            responder.counters.groups.withLock { $0.removeAll() }
            for (i, client) in clients.enumerated() {
                try client.send(FCGIClient.requestRecords(id: 2, params: Fixture.params("/share", method: "POST", body: 1), stdin: [UInt8(65 + i)]))
                usleep(20_000) // they come one after another, not at once
            }
            for (i, client) in clients.enumerated() {
                let answer = try client.readResponse(id: 2).http
                #expect(answer?.status == 200)
                #expect(answer?.body == [UInt8(65 + i)])
            }
            #expect(responder.counters.groups.withLock { $0 } == [3])
        }
    }

    @Test func aLoneClientNeverWaits() throws {
        let responder = TestResponder()
        _ = try FCGIServeLoopTests.withServer(groupWait: 30, responder: responder) { address in
            let client = try Self.warmClients(1, address)[0]
            let started = Date()
            for id in UInt16(2)...5 {
                #expect(try client.request(id: id, params: Fixture.params("/share")).http?.status == 200)
            }
            // Four requests; waiting even once would take 30 s.
            #expect(Date().timeIntervalSince(started) < 15)
        }
    }

    @Test func aRequestThatCannotShareDoesNotWaitForNeighbours() throws {
        let responder = TestResponder()
        _ = try FCGIServeLoopTests.withServer(groupWait: 30, responder: responder) { address in
            let clients = try Self.warmClients(2, address)
            let started = Date()
            #expect(try clients[0].request(id: 2, params: Fixture.params("/echo")).http?.status == 200)
            #expect(Date().timeIntervalSince(started) < 15)
        }
    }

    @Test func theWaitEndsAtItsBoundWhenNoNeighbourComes() throws {
        let responder = TestResponder()
        _ = try FCGIServeLoopTests.withServer(groupWait: 0.3, responder: responder) { address in
            let clients = try Self.warmClients(2, address)
            responder.counters.groups.withLock { $0.removeAll() }
            let started = Date()
            #expect(try clients[0].request(id: 2, params: Fixture.params("/share")).http?.status == 200)
            // It waited for the silent neighbour, and then answered alone.
            #expect(Date().timeIntervalSince(started) >= 0.25)
            #expect(responder.counters.groups.withLock { $0 } == [1])
            // The neighbour is still served normally afterwards.
            #expect(try clients[1].request(id: 2, params: Fixture.params("/echo")).http?.status == 200)
        }
    }
}

/// What a group must not wait for: unrelated slow work, and neighbours whose request has not
/// fully arrived.
struct FCGIGroupBoundsTests {
    @Test func aSlowRequestGatheredWithOneThatSharesIsAnsweredAfterIt() throws {
        let responder = TestResponder()
        _ = try FCGIServeLoopTests.withServer(groupWait: 2, responder: responder) { address in
            let clients = try FCGIGroupAnswerTests.warmClients(2, address)
            let started = Date()
            try clients[0].send(FCGIClient.requestRecords(id: 2, params: Fixture.params("/share")))
            usleep(20_000)
            try clients[1].send(FCGIClient.requestRecords(id: 2, params: Fixture.params("/slow", query: "ms=3000")))
            #expect(try clients[0].readResponse(id: 2).http?.status == 200)
            // The shared answer went out before the 3 s request ran: when it arrived, nothing of
            // the slow one's answer had (answered the other way round, it would have come first).
            var pending = pollfd(fd: clients[1].socket.fd, events: Int16(POLLIN), revents: 0)
            #expect(poll(&pending, 1, 0) == 0, "the slow request was answered first")
            #expect(try clients[1].readResponse(id: 2).http?.status == 200)
            #expect(Date().timeIntervalSince(started) >= 3)
        }
    }

    @Test func aNeighbourThatSendsMoreAfterItsRequestJoinsTheGroupOnce() throws {
        let responder = TestResponder()
        _ = try FCGIServeLoopTests.withServer(groupWait: 2, responder: responder) { address in
            let clients = try FCGIGroupAnswerTests.warmClients(3, address)
            responder.counters.groups.withLock { $0.removeAll() }
            try clients[0].send(FCGIClient.requestRecords(id: 2, params: Fixture.params("/share")))
            usleep(20_000)
            // B's whole request, and in the same write a record that comes after it; then more
            // bytes while the group still waits for C.
            try clients[1].send(raw: FCGIClient.requestRecords(id: 2, params: Fixture.params("/share")).flatMap { $0.encoded() }
                                    + FCGIRecord(type: .abortRequest, requestId: 2, content: []).encoded())
            usleep(20_000)
            try clients[1].send(raw: FCGIRecord(type: .getValues, requestId: 0, content: FCGINameValuePairs.encode([("FCGI_MAX_CONNS", "")])).encoded())
            usleep(20_000)
            try clients[2].send(FCGIClient.requestRecords(id: 2, params: Fixture.params("/share")))
            for client in clients { #expect(try client.readResponse(id: 2).http?.status == 200) }
            #expect(responder.counters.groups.withLock { $0 } == [3])
            #expect(responder.counters.responded.load(ordering: .relaxed) == 3 + 3)
        }
    }

    @Test func aNeighbourWhoseBodyHasNotArrivedDoesNotHoldTheGroup() throws {
        let responder = TestResponder()
        _ = try FCGIServeLoopTests.withServer(groupWait: 0.3, responder: responder) { address in
            let clients = try FCGIGroupAnswerTests.warmClients(2, address)
            // A's request starts the group wait; B's arrives during it but stops after 3 of its
            // 10 body bytes (the read timeout is 10 s).
            let started = Date()
            try clients[0].send(FCGIClient.requestRecords(id: 2, params: Fixture.params("/share")))
            usleep(50_000)
            try clients[1].send(FCGIClient.requestRecords(id: 2, params: Fixture.params("/echo", method: "POST", body: 10),
                                                          stdin: Array("012".utf8), terminateStdin: false))
            #expect(try clients[0].readResponse(id: 2).http?.status == 200)
            #expect(Date().timeIntervalSince(started) < 5)
            // The rest arrives: B's request completes and is answered whole.
            try clients[1].send(raw: FCGIRecord(type: .stdin, requestId: 2, content: Array("3456789".utf8)).encoded())
            try clients[1].send(raw: FCGIRecord(type: .stdin, requestId: 2, content: []).encoded())
            let answer = try clients[1].readResponse(id: 2).http
            #expect(answer?.status == 200)
            #expect(answer?.body == Array("0123456789".utf8))
        }
    }

    @Test(arguments: [
        // (outcomes of waits, how many of the next 64 chances wait)
        ([Bool](repeating: true, count: 20), 64),   // company: always wait
        ([Bool](repeating: false, count: 20), 4),   // never company: one chance in sixteen
        (Array(repeating: false, count: 20) + [true], 4),        // one probe found company: not yet
        (Array(repeating: false, count: 20) + [true, true], 64), // two did: waiting again
        ([true, false, true, false, true, false, true, false, true, false], 64),    // half the time: worth it
    ])
    func theWaitIsKeptForWhenItFindsCompany(_ outcomes: [Bool], _ waitsIn64: Int) {
        let pacer = GroupWaitPacer()
        for outcome in outcomes { pacer.record(foundCompany: outcome) }
        #expect((0..<64).filter { _ in pacer.shouldWait() }.count == waitsIn64)
    }

    @Test func aConnectionThatDefersAnswersStillAnswersWhenServedAlone() throws {
        try Fixture.withConnection(defersAnswers: true) { (client: FCGIClient) throws in
            #expect(try client.request(params: Fixture.params("/echo", method: "POST", body: 2), stdin: Array("hi".utf8)).http?.body == Array("hi".utf8))
        }
    }
}
