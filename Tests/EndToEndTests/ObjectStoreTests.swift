import CairnStores
import Foundation
import Testing

/// The object-store contract (immutable writes, compare-and-swap, listing, uploads) holds the
/// same for a local directory and for an S3 bucket.
@Suite struct ObjectStoreTests {
    enum Kind: String, CaseIterable { case local, s3 }

    @Test(arguments: Kind.allCases)
    func contract(kind: Kind) async throws {
        let scratch = try Scratch()
        var moto: MotoServer?
        let store: any ObjectStore
        switch kind {
        case .local:
            store = LocalObjectStore(root: scratch.file("bucket"))
        case .s3:
            moto = try MotoServer()
            let client = S3Client(
                location: try S3Location(parsing: moto!.store("pre/fix")),
                credentials: S3Credentials(accessKeyID: "cairn-test", secretAccessKey: "cairn-secret"), region: "us-east-1")
            store = S3ObjectStore(client: client)
        }

        // Immutable objects: the first writer wins, later ones learn they lost.
        #expect(try await store.put("casync/manifests/1.json", bytes: Array("one".utf8), condition: .absent))
        #expect(try await store.put("casync/manifests/1.json", bytes: Array("two".utf8), condition: .absent) == false)
        #expect(try await store.get("casync/manifests/1.json")?.bytes == Array("one".utf8))
        #expect(try await store.get("casync/manifests/none.json") == nil)

        // Compare-and-swap: only the writer holding the current ETag moves the name.
        #expect(try await store.put("casync/refs/main/latest.json", bytes: Array("a".utf8), condition: .absent))
        let first = try #require(try await store.get("casync/refs/main/latest.json"))
        #expect(try await store.put("casync/refs/main/latest.json", bytes: Array("b".utf8), condition: .matching(etag: first.etag)))
        #expect(try await store.put("casync/refs/main/latest.json", bytes: Array("c".utf8), condition: .matching(etag: first.etag)) == false)
        let second = try #require(try await store.head("casync/refs/main/latest.json"))
        #expect(second.size == 1 && second.etag != first.etag)
        #expect(try await store.get("casync/refs/main/latest.json")?.bytes == Array("b".utf8))

        // Uploads of files, listing by prefix (relative keys), deletion.
        let image = try scratch.write("image.ero", randomBytes(3_000_000, seed: 81))
        #expect(try await store.upload(file: image, to: "images/1.ero", condition: .absent))
        #expect(try await store.get("images/1.ero")?.bytes == scratch.read("image.ero"))
        let listed = try await store.list(prefix: "casync/").map(\.key)
        #expect(listed.sorted() == ["casync/manifests/1.json", "casync/refs/main/latest.json"])
        #expect(try await store.list(prefix: "casync/ref").map(\.key) == ["casync/refs/main/latest.json"])
        try await store.delete(["images/1.ero", "images/missing.ero"])
        #expect(try await store.head("images/1.ero") == nil)

        // Chunk stores live under a prefix of the same place.
        let chunks = store.chunkStore(prefix: "casync/chunks")
        #expect(try await chunks.list().isEmpty)
        withExtendedLifetime(moto) {}
    }

    @Test func localKeysCannotEscapeTheRoot() async throws {
        let scratch = try Scratch()
        let store = LocalObjectStore(root: scratch.file("bucket"))
        for key in ["../outside", "a/../../b", "/absolute", "a//b", ".#temporary"] {
            await #expect(throws: ObjectStoreError.self) { try await store.put(key, bytes: [1], condition: .none) }
        }
        #expect(!scratch.exists("outside"))
    }
}
