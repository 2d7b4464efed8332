// swift-tools-version:6.0
import Foundation
import PackageDescription

// A team's own job kind in Swift, on Conveyor as a library: its own fcgi-host and local-host
// with ResizeImage registered. It depends on this repository by path; a real project would use
// .package(url: "https://…/conveyor.git", from: "…") and .product(name: "Conveyor", package: "conveyor").
// A path dependency is known by its directory's name, whatever the clone is called.
let conveyorDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../..").standardizedFileURL.lastPathComponent.lowercased()

let package = Package(
    name: "ResizeImage",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../.."),
    ],
    targets: [
        .target(name: "ResizeJobs", dependencies: [.product(name: "Conveyor", package: conveyorDirectory)]),
        .executableTarget(name: "resize-fcgi-host", dependencies: ["ResizeJobs", .product(name: "Conveyor", package: conveyorDirectory)]),
        .executableTarget(name: "resize-local-host", dependencies: ["ResizeJobs", .product(name: "Conveyor", package: conveyorDirectory)]),
        .testTarget(name: "ResizeJobsTests", dependencies: ["ResizeJobs", .product(name: "Conveyor", package: conveyorDirectory)]),
    ]
)
