import CairnBlob
import CairnCasync
import CairnStores

/// What a build in the bucket lacks or has wrong.
public struct BuildCheck: Sendable, Codable {
    public var build: String
    /// Each names the object at fault.
    public var problems: [String] = []
    /// Unique chunks the build's index references, and how many of them the bucket lacks.
    public var chunks = 0
    public var missingChunks = 0
    public var imageMissing = false
    /// The build's manifest and index, when they could be read (the index is checked against the
    /// manifest), so that callers need not fetch them again.
    public var manifest: ComposeManifest?
    public var index: BlobIndex?

    public var isComplete: Bool { problems.isEmpty }

    private enum CodingKeys: String, CodingKey {
        case build, problems, chunks, missingChunks, imageMissing, manifest
    }
}

/// Checks that every part of a build is in the bucket: manifest, index (matching the manifest),
/// image (of the manifest's size) and every chunk the index references.
public enum BuildChecker {
    /// - Parameter held: the chunks in the bucket, listed once for any number of builds.
    public static func check(_ build: String, layout: BucketLayout, in bucket: any ObjectStore, held: Set<ChunkID>) async throws -> BuildCheck {
        var check = BuildCheck(build: build)
        let manifestKey = layout.manifest(build)
        let manifest: ComposeManifest
        do {
            guard let found = try await ComposeManifest.read(build, layout: layout, from: bucket) else {
                check.problems.append("\(manifestKey) is missing")
                return check
            }
            manifest = found
        } catch let error as ReleaseError {
            check.problems.append("\(error)")
            return check
        }
        check.manifest = manifest
        if manifest.build.id != build { check.problems.append("\(manifestKey) describes build \(manifest.build.id)") }

        if let image = try await bucket.head(manifest.image.key) {
            if image.size != manifest.image.size {
                check.problems.append("\(manifest.image.key) holds \(image.size) bytes where the manifest says \(manifest.image.size)")
            }
        } else {
            check.imageMissing = true
            check.problems.append("\(manifest.image.key) is missing")
        }

        let index: BlobIndex
        do {
            index = try await manifest.index(from: bucket)
        } catch {
            check.problems.append("\(error)")
            return check
        }
        check.index = index
        let unique = Set(index.chunks.map(\.id))
        let missing = unique.subtracting(held).sorted { $0.hex < $1.hex }
        check.chunks = unique.count
        check.missingChunks = missing.count
        if !missing.isEmpty {
            let shown = missing.prefix(5).map(\.hex).joined(separator: ", ")
            check.problems.append("\(missing.count) of its \(unique.count) chunks are missing from \(layout.chunks): \(shown)\(missing.count > 5 ? ", …" : "")")
        }
        return check
    }

    /// `deep`: downloads the chunks of a complete build, verifies each, and checks that they
    /// rebuild the image the manifest describes (its casync digest); what fails joins `check.problems`.
    public static func checkRebuild(_ check: inout BuildCheck, layout: BucketLayout, in bucket: any ObjectStore, jobs: Int) async {
        guard check.isComplete, let manifest = check.manifest, let index = check.index else { return }
        do {
            let fetcher = ChunkFetcher(stores: [bucket.chunkStore(prefix: layout.chunks)], digest: index.digest)
            let digest = try await BlobDigest.ofIndex(index, fetcher: fetcher, jobs: jobs)
            if digest.hex != manifest.image.casyncDigest {
                check.problems.append("the chunks of \(manifest.index.key) rebuild an image with casync digest \(digest), not \(manifest.image.casyncDigest)")
            }
        } catch {
            check.problems.append("\(error)")
        }
    }
}
