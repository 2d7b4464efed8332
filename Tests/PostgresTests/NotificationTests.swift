import Foundation
import Postgres
import Testing

@Suite struct NotificationTests {
    @Test func listenAndNotifyBetweenConnections() throws {
        let listener = try TestDatabase.connect()
        let sender = try TestDatabase.connect()
        let channel = TestDatabase.uniqueName("Chan Mixed")  // needs quoting: space and capitals
        try listener.listen(channel)

        #expect(try listener.waitForNotifications(timeout: 0.05).isEmpty)

        try sender.notify(channel, payload: "héllo 'quoted' 🚀")
        try sender.notify(channel)
        var received: [PostgresNotification] = []
        let deadline = Date().addingTimeInterval(5)
        while received.count < 2 && Date() < deadline {
            received += try listener.waitForNotifications(timeout: 1)
        }
        #expect(received == [
            PostgresNotification(channel: channel, payload: "héllo 'quoted' 🚀", pid: sender.backendPID),
            PostgresNotification(channel: channel, payload: "", pid: sender.backendPID),
        ])

        try listener.unlisten(channel)
        try sender.notify(channel, payload: "after unlisten")
        #expect(try listener.waitForNotifications(timeout: 0.2).isEmpty)
    }

    @Test func notifyInsideTransactionArrivesAtCommit() throws {
        let listener = try TestDatabase.connect()
        let sender = try TestDatabase.connect()
        let channel = TestDatabase.uniqueName("txchan")
        try listener.listen(channel)

        try sender.transaction { tx in
            try tx.notify(channel, payload: "committed")
            #expect(try listener.waitForNotifications(timeout: 0.3).isEmpty)
        }
        let received = try listener.waitForNotifications(timeout: 5)
        #expect(received.map(\.payload) == ["committed"])

        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try sender.transaction { tx in
                try tx.notify(channel, payload: "rolled back")
                throw Abort()
            }
        }
        #expect(try listener.waitForNotifications(timeout: 0.3).isEmpty)
    }

    @Test func notificationsArrivingDuringQueriesAreKept() throws {
        let listener = try TestDatabase.connect()
        let sender = try TestDatabase.connect()
        let channel = TestDatabase.uniqueName("kept")
        try listener.listen(channel)
        try sender.notify(channel, payload: "1")
        Thread.sleep(forTimeInterval: 0.1)
        // These statements read the notification off the socket before anyone waits for it.
        try listener.query("SELECT pg_sleep(0.05)")
        try listener.query("SELECT 1")
        try sender.notify(channel, payload: "2")
        var payloads: [String] = []
        let deadline = Date().addingTimeInterval(5)
        while payloads.count < 2 && Date() < deadline {
            payloads += try listener.waitForNotifications(timeout: 1).map(\.payload)
        }
        #expect(payloads == ["1", "2"])
    }

    @Test func waitReturnsEarlyWhenSomethingArrives() throws {
        let listener = try TestDatabase.connect()
        let url = try TestDatabase.url()
        let channel = TestDatabase.uniqueName("early")
        try listener.listen(channel)
        let sender = BackgroundThread {
            Thread.sleep(forTimeInterval: 0.2)
            try Connection(url: url).notify(channel, payload: "wake")
        }
        let start = Date()
        let received = try listener.waitForNotifications(timeout: 10)
        #expect(received.map(\.payload) == ["wake"])
        #expect(Date().timeIntervalSince(start) < 5)
        try sender.join()
    }
}
