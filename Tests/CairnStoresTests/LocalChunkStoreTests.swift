import CairnCasync
import CairnStores
import Foundation
import Testing

@Suite struct LocalChunkStoreTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("cairn-store-\(UUID().uuidString)").path
    let id = DigestAlgorithm.sha512_256.hash([1, 2, 3])

    @Test func storesWithCasyncLayoutAndReadsBack() async throws {
        let store = LocalChunkStore(root: root)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try await store.fetch(id) == nil)
        #expect(try await !store.contains(id))
        #expect(try await !store.markUsed(id))
        try await store.store(id, bytes: [9, 9], isCompressed: true)
        let path = "\(root)/\(id.hex.prefix(4))/\(id.hex).cacnk"
        #expect(FileManager.default.fileExists(atPath: path))
        let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(permissions == 0o444)
        #expect(try await store.fetch(id)?.bytes == [9, 9])
        #expect(try await store.contains(id))
        #expect(try await store.markUsed(id))
        let listing = try await store.list()
        #expect(listing.map(\.id) == [id] && listing[0].isCompressed)
        try await store.remove(id, isCompressed: true)
        #expect(try await store.list().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/\(id.hex.prefix(4))"))
    }

    @Test func readsUncompressedChunksAndIgnoresMissingMarkers() async throws {
        let store = LocalChunkStore(root: root)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await store.store(id, bytes: [1, 2, 3], isCompressed: false)
        let chunk = try await store.fetch(id)
        #expect(chunk?.bytes == [1, 2, 3] && chunk?.isCompressed == false)
        // casync marks chunks known to be missing with a symlink to /dev/null.
        let other = DigestAlgorithm.sha512_256.hash([4])
        try FileManager.default.createDirectory(atPath: "\(root)/\(other.hex.prefix(4))", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/\(other.hex.prefix(4))/\(other.hex)", withDestinationPath: "/dev/null")
        #expect(try await store.fetch(other) == nil)
        #expect(try await store.list().map(\.id) == [id])
    }

    @Test func removesOnlyStaleTemporaryFiles() async throws {
        let store = LocalChunkStore(root: root)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await store.store(id, bytes: [1], isCompressed: true)
        let temporary = "\(root)/\(id.hex.prefix(4))/\(id.hex).0123456789abcdef.tmp"
        #expect(FileManager.default.createFile(atPath: temporary, contents: Data([1])))
        #expect(try await store.removeTemporaryFiles(modifiedBefore: Date().timeIntervalSince1970 - 3600) == 0)
        #expect(try await store.removeTemporaryFiles(modifiedBefore: Date().timeIntervalSince1970 + 10) == 1)
        #expect(!FileManager.default.fileExists(atPath: temporary))
        #expect(try await store.contains(id))
    }
}
