import ArgumentParser
import CairnIO
import CairnRelease
import CairnStores
import SystemPackage

struct InputsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inputs",
        abstract: "Freeze and compare the inputs builds were made from.",
        subcommands: [Lock.self, Diff.self])

    struct Lock: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a build's inputs as a lock file (for `cairn publish --lock`).",
            discussion: "The lock holds the inputs the build's manifest records and the image's digests.")

        @OptionGroup var location: BucketOptions
        @Argument(help: "The build id.") var build: String

        func run() async throws {
            let bucket = try openObjectStore(location.bucket, requests: nil)
            let manifest = try await InputsCommand.manifest(of: try BuildIdentity.validateID(build), location: location, bucket: bucket)
            try File.writeStandardOutput(try InputsLock(manifest).encoded())
        }
    }

    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the inputs of two builds (or lock files): exit 1 if they differ.",
            discussion: "Each side is a build id in the bucket, or a lock file. Lines: - KEY=VALUE (only in A), + KEY=VALUE (only in B), ~ KEY: A -> B.")

        @OptionGroup var location: BucketOptions
        @Argument(help: "A build id or a lock file.") var a: String
        @Argument(help: "A build id or a lock file.") var b: String

        func run() async throws {
            let bucket = try openObjectStore(location.bucket, requests: nil)
            let differences = InputsLock.differences(try await inputs(a, bucket), try await inputs(b, bucket))
            for line in differences { print(line) }
            if !differences.isEmpty { throw ExitCode(1) }
        }

        private func inputs(_ side: String, _ bucket: any ObjectStore) async throws -> [String: String] {
            if FileSystem.exists(side) { return try InputsCommand.lock(side).inputs }
            return try await InputsCommand.manifest(of: try BuildIdentity.validateID(side), location: location, bucket: bucket).inputs
        }
    }

    static func manifest(of build: String, location: BucketOptions, bucket: any ObjectStore) async throws -> ComposeManifest {
        guard let manifest = try await ComposeManifest.read(build, layout: location.layout, from: bucket) else {
            throw ReleaseError.missing(key: location.layout.manifest(build), store: bucket.description)
        }
        return manifest
    }

    static func lock(_ path: String) throws -> InputsLock {
        let bytes: [UInt8]
        do { bytes = try File.open(path, .readOnly).readAll() } catch { throw ValidationError("cannot read the lock \(path): \(error)") }
        return try InputsLock(decoding: bytes, file: path)
    }
}
