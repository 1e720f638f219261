// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "cairn",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "cairn", targets: ["cairn"]),
        .library(name: "CairnCasync", targets: ["CairnCasync"]),
        .library(name: "CairnStores", targets: ["CairnStores"]),
        .library(name: "CairnBlob", targets: ["CairnBlob"]),
        .library(name: "CairnIO", targets: ["CairnIO"]),
        .library(name: "CairnRelease", targets: ["CairnRelease"]),
        .library(name: "CairnErofs", targets: ["CairnErofs"]),
        .library(name: "CairnComposefs", targets: ["CairnComposefs"]),
        .library(name: "CairnOCI", targets: ["CairnOCI"]),
        .library(name: "CairnDeploy", targets: ["CairnDeploy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
    ],
    targets: [
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLzma", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // PCRE2, the regex engine of SELinux file_contexts (libselinux uses it too).
        .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),
        // Formats: chunker, chunk IDs, index codec, chunk compression. No file or network I/O.
        .target(
            name: "CairnCasync",
            dependencies: [
                "CZstd", "CZlib", "CLzma", "COpenSSL",
            ]
        ),
        // Files: complete positioned reads and writes, atomic creation, errors that name the path.
        .target(name: "CCairnLinux"),
        // SHA-256 of fs-verity's 4 KiB blocks, two at a time on the CPU's SHA extensions.
        .target(name: "CCairnSHA256"),
        .target(
            name: "CairnIO",
            dependencies: ["CCairnLinux", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // Where chunks live: the ChunkStore protocol and its local directory implementation.
        .target(
            name: "CairnStores",
            dependencies: [
                "CairnCasync", "CairnIO", "COpenSSL",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The blob-layer engines: make, extract, verify, gc, info.
        .target(
            name: "CairnBlob",
            dependencies: [
                "CairnCasync", "CairnStores", "CairnIO",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Publishing, pulling and promoting builds: bucket layout, manifests, refs with lineage,
        // gates that read images in the bucket by random access, audit records.
        .target(
            name: "CairnRelease",
            dependencies: [
                "CairnCasync", "CairnStores", "CairnBlob", "CairnIO", "CairnErofs",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // EROFS: the file tree model, the on-disk format's pieces, the reader and full-image writer.
        .target(name: "CairnErofs", dependencies: ["CairnIO", "CairnCasync", .product(name: "SystemPackage", package: "swift-system")]),
        // composefs: fs-verity digests, dumpfiles, and images byte-identical to mkcomposefs.
        .target(
            name: "CairnComposefs",
            dependencies: ["CairnErofs", "CairnCasync", "CairnIO", "COpenSSL", "CCairnSHA256", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // OCI images into a composefs repository: image spec, layouts, layer import, tree merge, pull.
        .target(
            name: "CairnOCI",
            dependencies: [
                "CairnComposefs", "CairnErofs", "CairnCasync", "CairnIO", "CairnStores", "CPCRE2",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Deployments on a sysroot: origin files, deploy/undeploy, status along the chain, GC roots.
        .target(
            name: "CairnDeploy",
            dependencies: [
                "CairnOCI", "CairnComposefs", "CairnErofs", "CairnCasync", "CairnIO",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "cairn",
            dependencies: [
                "CairnCasync", "CairnStores", "CairnBlob", "CairnRelease", "CairnErofs", "CairnComposefs", "CairnOCI", "CairnDeploy", "CairnIO",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CairnCasyncTests", dependencies: ["CairnCasync"]),
        .testTarget(name: "CairnStoresTests", dependencies: ["CairnStores", "CairnCasync"]),
        .testTarget(name: "CairnComposefsTests", dependencies: ["CairnComposefs", "CairnErofs", "CCairnSHA256", "COpenSSL"]),
        .testTarget(name: "CairnReleaseTests", dependencies: ["CairnRelease"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["CairnCasync", "CairnStores"]
        ),
    ]
)

for target in package.targets where target.type != .system && target.name != "CCairnLinux" {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
