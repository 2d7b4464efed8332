// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Conveyor",
    platforms: [.macOS(.v15)],
    products: [
        // Conveyor as a Swift library: register your own functions and build your own hosts.
        .library(name: "Conveyor", targets: ["Handlers", "JobQueue", "Targets", "FastCGIHostKit", "LocalHostKit"]),
        .executable(name: "local-host", targets: ["LocalHost"]),
        .executable(name: "queue-bench", targets: ["QueueBench"]),
        .executable(name: "fcgi-host", targets: ["FastCGIHost"]),
        .executable(name: "cron-driver", targets: ["CronDriver"]),
        .executable(name: "ops-bench", targets: ["OpsBench"]),
        .executable(name: "targets-bench", targets: ["TargetsBench"]),
        // @products: new executables above this line
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // The C choke point: only `Postgres` imports libpq.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        // SHA-256 and HMAC, pure Swift: API key digests, dashboard sessions, signed deliveries.
        .target(name: "Digest"),
        .target(name: "Accounts", dependencies: ["Postgres", "Digest"]),
        .target(name: "JobQueue", dependencies: [
            "Postgres",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Handlers", dependencies: [
            "Postgres", "Accounts", "JobQueue",
            "Routing",
            "Intake",
            "Mail",
            "Curl",
            "Digest",
            "Targets",
            "Schedules",
            // @handler-deps: modules Handlers uses, above this line
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The hosts as libraries, so a Swift team builds its own with its functions registered.
        .target(name: "LocalHostKit", dependencies: [
            "Handlers",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "LocalHost", dependencies: ["LocalHostKit"]),
        // Benchmarks live under bench/, built in release by bench/*/run; never timed in tests.
        .executableTarget(name: "QueueBench", dependencies: ["Handlers", "JobQueue", "Postgres"], path: "bench/queue/Sources",
                          // A small harness with a few worker threads: strict checking buys nothing here.
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        // FastCGI 1.0 responder and CGI/1.1 mode; knows nothing of Handlers.
        .target(name: "FastCGI", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .target(name: "FastCGIHostKit", dependencies: [
            "FastCGI", "Handlers", "JobQueue",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "FastCGIHost", dependencies: ["FastCGIHostKit"]),
        // The C choke point for libcurl: typed setopt/getinfo shims; only `Curl` imports it.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "Curl", dependencies: ["CCurl"]),
        // Cron syntax, crontabs and the scheduling core of cron-driver run: pure Swift, no I/O.
        .target(name: "Cron"),
        .executableTarget(name: "CronDriver", dependencies: [
            "Cron", "Curl", "Handlers", "JobQueue", "Postgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The offline intake router: text analysis, BM25 scoring, calibrated confidence; pure Swift.
        .target(name: "Routing"),
        // Pipelines, intake requests and the activity log; the LLM router (through Curl) with the offline router as fallback.
        .target(name: "Intake", dependencies: [
            "Postgres", "JobQueue", "Curl", "Routing",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Message model, validation, RFC 5322/MIME rendering and the SMTP transport over Curl.
        .target(name: "Mail", dependencies: ["Curl"]),
        // queue-metrics on 1,000,000 finished jobs, through bench/ops/run (release, real Postgres).
        .executableTarget(name: "OpsBench", dependencies: ["Handlers", "JobQueue", "Postgres",
                                                           .product(name: "Logging", package: "swift-log")], path: "bench/ops/Sources"),
        // The user's own work as job kinds: signed deliveries to their HTTP endpoints.
        .target(name: "Targets", dependencies: ["JobQueue", "Curl", "Digest", "Postgres"]),
        // Deliveries to HTTP targets through bench/targets/run (release, real Postgres and nginx).
        .executableTarget(name: "TargetsBench", dependencies: ["Handlers", "JobQueue", "Postgres", "Targets",
                                                               .product(name: "Logging", package: "swift-log")], path: "bench/targets/Sources",
                          swiftSettings: [.swiftLanguageMode(.v5)]),
        // Schedules stored in the database, fired by process-batch ahead of their slots.
        .target(name: "Schedules", dependencies: ["Cron", "JobQueue", "Postgres"]),
        // @targets: new library/executable targets above this line

        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        .testTarget(name: "AccountsTests", dependencies: ["Accounts", "Digest"]),
        .testTarget(name: "DigestTests", dependencies: ["Digest"]),
        .testTarget(name: "JobQueueTests", dependencies: ["JobQueue"]),
        .testTarget(name: "HandlersTests", dependencies: [
            "TestSupport",
            "Handlers", "Accounts", "Digest", "Targets",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "LocalHostTests", dependencies: ["LocalHostKit"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI"]),
        .testTarget(name: "FastCGIHostTests", dependencies: ["FastCGIHostKit", "FastCGI", "Handlers", "Postgres"]),
        .testTarget(name: "CurlTests", dependencies: ["TestSupport", "Curl"]),
        .testTarget(name: "CronTests", dependencies: ["Cron"]),
        .testTarget(name: "CronDriverTests", dependencies: ["CronDriver", "Handlers", "JobQueue", "Postgres"]),
        // The deployment end to end: nginx, fcgi-host, fcgiwrap, cron-driver and PostgreSQL.
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "Curl", "Handlers", "JobQueue", "Postgres", "FastCGIHost", "FastCGIHostKit", "CronDriver", "Targets"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing"], exclude: ["Fixtures"]),
        .testTarget(name: "IntakeTests", dependencies: [
            "Intake", "Accounts", "Postgres", "JobQueue", "Curl", "Routing",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "MailTests", dependencies: ["TestSupport", "Mail", "Curl"]),
        // What several test targets share: starting the python fixtures of Tests/Fixtures.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TargetsTests", dependencies: ["TestSupport", "Targets", "JobQueue", "Curl", "Postgres"]),
        .testTarget(name: "SchedulesTests", dependencies: ["Schedules", "Accounts", "Cron", "JobQueue", "Postgres"]),
        // @tests: new test targets above this line
    ]
)
