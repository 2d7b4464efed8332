// swift-tools-version:6.0
// libFuzzer targets for Conveyor's parsers; not part of CI. Build and run with bench/fuzz/run.
// The modules under test are the project's own sources (Modules/ holds symlinks to ../../Sources).
import PackageDescription

// libFuzzer supplies main(): the fuzz entry points are plain library code.
let fuzzerSettings: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "ConveyorFuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", path: "Modules/CLibPQ", pkgConfig: "libpq"),
        .target(name: "Postgres", dependencies: ["CLibPQ"], path: "Modules/Postgres"),
        .target(name: "JobQueue", dependencies: ["Postgres", .product(name: "Logging", package: "swift-log")], path: "Modules/JobQueue"),
        .target(name: "FastCGI", dependencies: [.product(name: "Logging", package: "swift-log")], path: "Modules/FastCGI"),
        .target(name: "Cron", path: "Modules/Cron"),
        .executableTarget(name: "FuzzFastCGI", dependencies: ["FastCGI"], swiftSettings: fuzzerSettings),
        .executableTarget(name: "FuzzJSON", dependencies: ["JobQueue"], swiftSettings: fuzzerSettings),
        .executableTarget(name: "FuzzCron", dependencies: ["Cron"], swiftSettings: fuzzerSettings),
    ]
)
