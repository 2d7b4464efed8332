import ArgumentParser
import Cron
import Curl
import Foundation
import Handlers

/// `cron-driver once FUNCTION [BODY]`: one call, for a system cron line.
struct Once: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call one function once and print its response body.",
        discussion: """
            Sends the manifest's method to CONVEYOR_URL plus the function's path, with the \
            processor key (CONVEYOR_TENANT_KEY for tenant functions such as enqueue). {slot} in \
            the body becomes the current minute in UTC (2026-11-22T20:35Z), so a periodic job's \
            idempotencyKey can name its schedule slot. The HTTP status goes to standard error; the \
            exit code is 0 for a 2xx answer and 1 otherwise. Connection failures are retried 3 \
            times (after 0.5, 1 and 2 s).
            """)

    @Argument(help: "The function's name in functions.json, e.g. process-batch.") var function: String
    @Argument(help: "The JSON body (default {} for POST).") var body: String?
    @Option(help: "The function manifest (default: $CONVEYOR_MANIFEST or ./functions.json).") var manifest: String?

    func run() throws {
        let (endpoint, settings) = try CronDriver.reportingErrors {
            let settings = try DriverSettings(environment: ProcessInfo.processInfo.environment)
            let manifest = try FunctionManifest.load(path: self.manifest)
            let endpoint = try FunctionEndpoint(function: function, manifest: manifest, baseURL: settings.baseURL)
            _ = try settings.key(for: endpoint)
            return (endpoint, settings)
        }
        // cron starts the command within its minute: that minute is the slot.
        let slotted = body.map { CronSlot.expand($0, minute: Date()) }
        let response: HTTPClientResponse
        do {
            let caller = try FunctionCaller(settings: settings)
            response = try caller.send(endpoint, body: slotted.map { Data($0.utf8) } ?? endpoint.defaultBody,
                                       retryingAfter: FunctionCaller.retryDelays) { error, attempt, delay in
                CronDriver.printError("\(function): \(error.description); retry \(attempt) of \(FunctionCaller.retryDelays.count) in \(delay) s")
            }
        } catch let error as CurlError {
            CronDriver.printError("\(function): \(error.description)")
            throw ExitCode(1)
        }
        FileHandle.standardOutput.write(response.body)
        if response.body.last != UInt8(ascii: "\n") { FileHandle.standardOutput.write(Data("\n".utf8)) }
        FileHandle.standardError.write(Data("HTTP \(response.status)\n".utf8))
        if !response.isSuccess { throw ExitCode(1) }
    }
}
