import CairnCasync
import CairnErofs
import CairnIO
import CairnComposefs
import Foundation
import SystemPackage
import Testing

/// The repository layout, objects, streams, refs, garbage collection and fsck, on a temporary
/// directory (insecure: this machine's ext4 has no fs-verity).
@Suite struct RepositoryTests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "cairn-repo-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func makeRepository() throws -> (String, Repository) {
        let path = try temporaryDirectory() + "/repo"
        return (path, try Repository.create(at: path, insecure: true))
    }

    /// meta.json is composefs-rs's, byte for byte (serde_json pretty printing).
    @Test func metaJSON() throws {
        let (path, repository) = try Self.makeRepository()
        defer { try? FileManager.default.removeItem(atPath: FileSystem.directory(of: path)) }
        let expected = """
            {
              "version": 1,
              "algorithm": "fsverity-sha512-12",
              "features": {
                "compatible": [],
                "read-only-compatible": [
                  "v1_erofs"
                ],
                "incompatible": []
              },
              "erofs_formats": {
                "default": 1
              }
            }

            """
        #expect(try String(contentsOfFile: path + "/meta.json", encoding: .utf8) == expected)
        #expect(repository.isInsecure && repository.algorithm == .sha512 && !repository.isReadOnly)
        var permissions = Glibc.stat()
        #expect(stat(path, &permissions) == 0 && permissions.st_mode & 0o777 == 0o700)
        // The same settings again are fine; others are not.
        #expect(try Repository.create(at: path, insecure: true).metadata == repository.metadata)
        #expect(throws: RepositoryError.self) { try Repository.create(at: path, metadata: RepositoryMetadata(algorithm: .sha256), insecure: true) }
        let sha256 = RepositoryMetadata(algorithm: .sha256, defaultFormat: 0)
        #expect(String(decoding: sha256.json(), as: UTF8.self).contains("\"algorithm\": \"fsverity-sha256-12\""))
        #expect(try RepositoryMetadata(json: sha256.json(), path: "x") == sha256)
    }

    /// What the repository cannot use is refused, naming meta.json; an unknown
    /// read-only-compatible feature opens the repository for reading only.
    @Test func metadataRefusals() throws {
        let (path, _) = try Self.makeRepository()
        defer { try? FileManager.default.removeItem(atPath: FileSystem.directory(of: path)) }
        func rewrite(_ text: String) throws { try text.write(toFile: path + "/meta.json", atomically: true, encoding: .utf8) }
        try rewrite(#"{"version": 2, "algorithm": "fsverity-sha512-12"}"#)
        #expect(throws: RepositoryError.self) { try Repository.open(at: path) }
        try rewrite(#"{"version": 1, "algorithm": "fsverity-sha1-12"}"#)
        #expect(throws: RepositoryError.self) { try Repository.open(at: path) }
        try rewrite(#"{"version": 1, "algorithm": "fsverity-sha512-12", "features": {"incompatible": ["future"]}}"#)
        #expect(throws: RepositoryError.self) { try Repository.open(at: path) }
        try rewrite(#"{"version": 1, "algorithm": "fsverity-sha512-12", "features": {"read-only-compatible": ["future"]}}"#)
        let readOnly = try Repository.open(at: path)
        #expect(readOnly.isReadOnly && readOnly.metadata.defaultFormat == 2)
        #expect(throws: RepositoryError.self) { try readOnly.storeObject([1, 2, 3]) }
        #expect(throws: RepositoryError.self) { try Repository.open(at: path + "/objects") }
        let notEmpty = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: notEmpty) }
        try "x".write(toFile: notEmpty + "/file", atomically: true, encoding: .utf8)
        #expect(throws: RepositoryError.self) { try Repository.create(at: notEmpty, insecure: true) }
    }

    /// A secure repository needs fs-verity on its file system: where there is none, creating
    /// one is an error that says to use --insecure; where there is, meta.json carries it.
    @Test func secureNeedsVerity() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let probe = directory + "/probe"
        try "probe".write(toFile: probe, atomically: false, encoding: .utf8)
        let hasVerity = try File.open(probe, .readOnly).enableVerity(algorithm: 2)
        if hasVerity {
            #expect(try !Repository.create(at: directory + "/repo").isInsecure)
        } else {
            let error = #expect(throws: RepositoryError.self) { try Repository.create(at: directory + "/repo") }
            #expect(error?.description.contains("--insecure") == true)
            #expect(!FileManager.default.fileExists(atPath: directory + "/repo/meta.json"))
        }
    }

    @Test func objectsStreamsAndRefs() throws {
        let (path, repository) = try Self.makeRepository()
        defer { try? FileManager.default.removeItem(atPath: FileSystem.directory(of: path)) }
        let bytes = Array("an object".utf8)
        let digest = try repository.storeObject(bytes)
        #expect(digest == FsVerity.digest(of: bytes, algorithm: .sha512))
        let hex = Hex.encode(digest)
        #expect(repository.objectPath(digest) == path + "/objects/" + hex.prefix(2) + "/" + hex.dropFirst(2))
        #expect(try File.open(repository.objectPath(digest), .readOnly).readAll() == bytes)
        #expect(try repository.storeObject(bytes) == digest)
        #expect(try FileSystem.contents(of: FileSystem.directory(of: repository.objectPath(digest))).count == 1)

        var stream = SplitStream(algorithm: .sha512, contentType: SplitStream.contentType("ociconfg"))
        stream.append(object: digest, size: UInt64(bytes.count))
        let streamDigest = try repository.writeStream(stream, named: "oci-config-sha256:abc")
        #expect(try repository.streamDigest(named: "oci-config-sha256:abc") == streamDigest)
        #expect(FileSystem.readLink(path + "/streams/oci-config-sha256:abc") == "../objects/" + Hex.encode(streamDigest).prefix(2) + "/" + Hex.encode(streamDigest).dropFirst(2))
        #expect(try repository.readStream(streamDigest, contentType: SplitStream.contentType("ociconfg")) == stream)
        #expect(throws: RepositoryError.self) { try repository.readStream(streamDigest, contentType: SplitStream.contentType("ocilayer")) }
        #expect(try repository.streamDigest(named: "absent") == nil)

        try repository.setStreamRef("oci/docker:%2F%2Fexample%2Fimage:1", to: "oci-config-sha256:abc")
        #expect(FileSystem.readLink(path + "/streams/refs/oci/docker:%2F%2Fexample%2Fimage:1") == "../../oci-config-sha256:abc")
        #expect(try repository.streamRef("oci/docker:%2F%2Fexample%2Fimage:1") == "oci-config-sha256:abc")
        #expect(try repository.streamRefs(under: "oci").map(\.ref) == ["docker:%2F%2Fexample%2Fimage:1"])
        #expect(try repository.removeStreamRef("oci/docker:%2F%2Fexample%2Fimage:1"))
        #expect(try !repository.removeStreamRef("oci/docker:%2F%2Fexample%2Fimage:1"))
        for bad in ["", ".", "..", "a/b"] {
            #expect(throws: RepositoryError.self) { try repository.writeStream(stream, named: bad) }
        }
        #expect(throws: RepositoryError.self) { try repository.setStreamRef("oci/../../escape", to: "oci-config-sha256:abc") }
    }

    /// A tagged manifest keeps its config, layers, their file objects and the EROFS image the
    /// config names; an image ref keeps its image and every object it redirects to; everything
    /// else goes, and a dry run deletes nothing.
    @Test func garbageCollection() throws {
        let (path, setup) = try Self.makeRepository()
        defer { try? FileManager.default.removeItem(atPath: FileSystem.directory(of: path)) }
        let (fileB, garbage, image, oldConfigObject, oldConfigSize) = try Self.populate(setup)
        let objectsBefore = try Self.objects(in: path)
        #expect(throws: RepositoryError.self) { try setup.collectGarbage() }
        let dryRun = try setup.collectGarbage(dryRun: true)
        #expect(dryRun.objects == 2 && dryRun.bytes == 300 + oldConfigSize)
        #expect(try Self.objects(in: path) == objectsBefore)

        // The shared handle must be gone before an exclusive one can be had (flock per open).
        _ = consume setup
        let repository = try Repository.open(at: path, access: .exclusive)
        let report = try repository.collectGarbage()
        #expect(report.objects == 2 && report.links == 0)
        #expect(!repository.hasObject(garbage) && !repository.hasObject(oldConfigObject))
        #expect(try Self.objects(in: path) == objectsBefore.subtracting([garbage, oldConfigObject].map(Hex.encode)))
        #expect(try repository.check().problems.isEmpty)

        // Untagged, everything goes but what the image ref keeps: the image and fileB.
        try repository.removeStreamRef("oci/tag")
        try FileSystem.makeDirectories(path + "/images/refs")
        try FileSystem.replaceSymlink(at: path + "/images/refs/kept", target: "../" + Hex.encode(image))
        let second = try repository.collectGarbage()
        #expect(try Self.objects(in: path) == Set([image, fileB].map(Hex.encode)))
        #expect(second.links == 3)  // streams/oci-layer…, oci-config…, oci-manifest…
        #expect(try FileSystem.contents(of: path + "/streams").sorted() == ["refs"])
        #expect(try repository.check().problems.isEmpty)
    }

    /// A tagged image as a pull leaves it (layer, config naming an EROFS image, manifest, tag),
    /// plus a garbage object and an older config stream object no name points at.
    static func populate(_ repository: Repository) throws -> (fileB: [UInt8], garbage: [UInt8], image: [UInt8], oldConfig: [UInt8], oldConfigSize: UInt64) {
        let fileA = try repository.storeObject([UInt8](repeating: 0xA, count: 100))
        let fileB = try repository.storeObject([UInt8](repeating: 0xB, count: 5000))
        let garbage = try repository.storeObject([UInt8](repeating: 0xC, count: 300))

        var layer = SplitStream(algorithm: .sha512, contentType: SplitStream.contentType("ocilayer"))
        layer.append(inline: [UInt8](repeating: 0, count: 512))
        layer.append(object: fileA, size: 100)
        layer.append(object: fileB, size: 5000)
        let layerDigest = try repository.writeStream(layer, named: "oci-layer-sha256:1")

        // A composefs image made from the layer: its file redirects to fileB. A config's image
        // is not parsed by GC (the layers keep its objects); an image ref's is.
        let root = FileNode(mode: FileType.directory.modeBits | 0o755)
        let file = FileNode(mode: FileType.regular.modeBits | 0o644)
        (file.size, file.digest, file.payload) = (5000, fileB, DirectorySource.objectPath(fileB))
        try root.add(file, named: Array("b".utf8))
        let image = try repository.storeObject(try ComposefsImage.write(root))

        var config = SplitStream(algorithm: .sha512, contentType: SplitStream.contentType("ociconfg"))
        config.append(object: try repository.storeObject(Array("{config}".utf8)), size: 8)
        config.addNamedRef(Array("sha256:1".utf8), digest: layerDigest)
        config.addNamedRef(Array("composefs.image.v1".utf8), digest: image)
        let configDigest = try repository.writeStream(config, named: "oci-config-sha256:2")
        var manifest = SplitStream(algorithm: .sha512, contentType: SplitStream.contentType("ocimanif"))
        manifest.append(object: try repository.storeObject(Array("{manifest}".utf8)), size: 10)
        manifest.addNamedRef(Array("config:sha256:2".utf8), digest: configDigest)
        manifest.addNamedRef(Array("sha256:1".utf8), digest: layerDigest)
        try repository.writeStream(manifest, named: "oci-manifest-sha256:3")
        try repository.setStreamRef("oci/tag", to: "oci-manifest-sha256:3")
        var oldConfig = config
        oldConfig.namedRefs.removeAll { $0.name == Array("composefs.image.v1".utf8) }
        let oldConfigObject = try repository.storeObject(oldConfig.encoded())
        try repository.registerImage(image)
        return (fileB, garbage, image, oldConfigObject, UInt64(oldConfig.encoded().count))
    }

    /// fsck names a missing object and one whose bytes no longer match its name.
    @Test func checkFindsDamage() throws {
        let (path, repository) = try Self.makeRepository()
        defer { try? FileManager.default.removeItem(atPath: FileSystem.directory(of: path)) }
        let damaged = try repository.storeObject([UInt8](repeating: 1, count: 9000))
        let missing = try repository.storeObject([UInt8](repeating: 2, count: 100))
        var layer = SplitStream(algorithm: .sha512, contentType: SplitStream.contentType("ocilayer"))
        layer.append(object: damaged, size: 9000)
        layer.append(object: missing, size: 100)
        try repository.writeStream(layer, named: "oci-layer-sha256:1")
        try repository.setStreamRef("keep", to: "oci-layer-sha256:1")
        #expect(try repository.check().problems.isEmpty)
        try FileSystem.remove(repository.objectPath(missing))
        let file = try File.open(repository.objectPath(damaged), .readWrite)
        try file.write([0xFF], at: 4096)
        let problems = try repository.check().problems
        #expect(problems.count == 2)
        #expect(problems.contains { $0.contains(repository.objectPath(missing)) && $0.contains("missing") })
        #expect(problems.contains { $0.contains(repository.objectPath(damaged)) && $0.contains("digest") })
        // A damaged stream stops a collection before it deletes anything.
        let streamObject = try #require(try repository.streamDigest(named: "oci-layer-sha256:1"))
        let saved = try File.open(repository.objectPath(streamObject), .readOnly).readAll()
        try File.open(repository.objectPath(streamObject), .readWrite).write([0, 1, 2, 3], at: 0)
        _ = consume repository
        let exclusive = try Repository.open(at: path, access: .exclusive)
        #expect(throws: RepositoryError.self) { try exclusive.collectGarbage() }
        #expect(exclusive.hasObject(damaged))
        try File.open(exclusive.objectPath(streamObject), .readWrite).write(saved, at: 0)

        // A ref to a stream that is gone (a crash between the two) is pruned, as composefs-rs
        // does, and what only that stream kept goes with it; fsck reports the ref until then.
        try FileSystem.remove(path + "/streams/oci-layer-sha256:1")
        #expect(try exclusive.check().problems.contains { $0.contains("oci-layer-sha256:1") && $0.contains("does not exist") })
        let report = try exclusive.collectGarbage()
        #expect(report.links == 1 && report.objects == 2, "\(report)")
        #expect(try exclusive.streamRef("keep") == nil && !exclusive.hasObject(damaged))
        #expect(try exclusive.check().problems.isEmpty)
    }

    static func objects(in path: String) throws -> Set<String> {
        var names = Set<String>()
        for fanOut in try FileSystem.contents(of: path + "/objects") {
            for name in try FileSystem.contents(of: path + "/objects/" + fanOut) { names.insert(fanOut + name) }
        }
        return names
    }
}
