// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Conveyor",
    platforms: [.macOS(.v15)],
    targets: [
        // The C choke point: only `Postgres` imports libpq.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        .target(name: "Accounts", dependencies: ["Postgres"]),

        .testTarget(name: "PostgresTests", dependencies: ["Postgres"]),
        .testTarget(name: "AccountsTests", dependencies: ["Accounts"]),
    ]
)
