import Foundation
import JobQueue
import Testing

/// RFC 3339 as the API reads it: an instant that does not exist is refused, never rolled over.
struct TimestampTests {
    @Test(arguments: [
        ("2026-02-28T00:00:00Z", 1_772_236_800.0),
        ("2024-02-29T12:00:00Z", 1_709_208_000.0),
        ("2000-02-29T00:00:00Z", 951_782_400.0),
        ("2026-04-30T23:59:59Z", 1_777_593_599.0),
        ("2026-12-31T23:59:59.5Z", 1_798_761_599.5),
        ("2026-03-01T01:00:00+01:00", 1_772_323_200.0),
        ("2026-03-01t00:00:00z", 1_772_323_200.0),
    ])
    func readsRealInstants(text: String, epoch: Double) {
        #expect(Timestamp.parse(text)?.timeIntervalSince1970 == epoch)
    }

    @Test(arguments: [
        "2026-02-31T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-06-31T00:00:00Z", "2026-09-31T00:00:00Z", "2026-11-31T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+01:60",
        "2026-01-01T00:00:00", "2026-01-01",
    ])
    func refusesInstantsThatDoNotExist(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test(arguments: [
        ("2026-11-22T17:44:18Z", 1_795_369_458.0),
        ("2026-11-22T17:44:18.250Z", 1_795_369_458.25),
        ("2026-11-22 17:44:18.123456+00", 1_795_369_458.123456),
        ("2026-11-22T18:44:18+01:00", 1_795_369_458.0),
        ("2026-11-22T16:14:18-0130", 1_795_369_458.0),
    ])
    func parses(text: String, seconds: Double) throws {
        let date = try #require(Timestamp.parse(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 1e-5)
    }

    @Test(arguments: ["", "2026-11-22", "2026-13-01T00:00:00Z", "2026-11-22T17:44:18", "2026-11-22T17:44:18Zjunk", "tomorrow"])
    func rejects(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func formatsRoundTrip() throws {
        let date = try #require(Timestamp.parse("2026-01-02T03:04:05.678Z"))
        #expect(Timestamp.format(date) == "2026-01-02T03:04:05.678Z")
    }
}
