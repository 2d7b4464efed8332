import Cron
import FoundationEssentials

/// Cron expressions and crontab files: parse, and for every schedule that parses, find the next
/// fire time, which must lie after the start and match the schedule.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCron(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let start = Date(timeIntervalSince1970: 1_790_000_000)
    if let schedule = try? CronSchedule(parsing: text), let next = schedule.next(after: start) {
        precondition(next > start, "next \(next) is not after \(start) for \(text)")
        precondition(schedule.matches(next), "next \(next) does not match \(text)")
    }
    _ = try? Crontab(parsing: text)
    return 0
}
