import CairnCasync
import CairnErofs
import CairnIO
import SystemPackage

/// Where a pull reads an image from: its top manifest (or index) and its blobs.
public protocol ImageSource: Sendable {
    /// The reference, as given (`oci:DIR:REF`, …), for messages.
    var name: String { get }
    /// The manifest or index the reference names, and its digest.
    func topManifest() async throws -> (bytes: [UInt8], digest: OCIDigest)
    /// A manifest a top index lists, checked against its digest.
    func manifest(_ descriptor: ImageSpec.Descriptor) async throws -> [UInt8]
    /// A blob, as a file that holds it from `offset` (not yet checked against its digest).
    func blob(_ descriptor: ImageSpec.Descriptor) async throws -> (path: String, offset: UInt64)
    /// Says a blob is no longer needed (a downloaded one can go).
    func release(_ descriptor: ImageSpec.Descriptor)
}

extension ImageSource {
    /// A small blob (manifest, config) read whole and checked against its digest and size.
    func verifiedBlob(_ descriptor: ImageSpec.Descriptor, limit: UInt64 = 16 << 20) async throws -> [UInt8] {
        guard descriptor.size <= limit else { throw OCIError("blob \(descriptor.digest) of \(name) is \(descriptor.size) bytes, more than a manifest or config may be") }
        let (path, offset) = try await blob(descriptor)
        guard let bytes = try File.open(path, .readOnly).read(exactly: Int(descriptor.size), at: offset) else {
            throw OCIError("blob \(descriptor.digest) of \(name) is shorter than its \(descriptor.size) bytes")
        }
        guard OCIDigest(of: bytes) == descriptor.digest else { throw OCIError("blob \(descriptor.digest) of \(name) does not have that digest") }
        return bytes
    }
}

/// `oci:DIR[:REF]`: an OCI image layout directory; REF matches an `index.json` entry's
/// `org.opencontainers.image.ref.name` (without REF, the layout must hold one image).
public struct OCILayoutSource: ImageSource {
    public let name: String
    let directory: String
    let reference: String?

    public init(directory: String, reference: String?, name: String) {
        (self.directory, self.reference, self.name) = (directory, reference, name)
    }

    public func topManifest() async throws -> (bytes: [UInt8], digest: OCIDigest) {
        let indexPath = directory + "/index.json"
        guard FileSystem.exists(indexPath) else { throw OCIError("\(directory) is not an OCI image layout (no index.json)") }
        let chosen = try Self.select(reference, in: try File.open(indexPath, .readOnly).readAll(), of: directory)
        return (try await verifiedBlob(chosen), chosen.digest)
    }

    /// The `index.json` entry named `reference` (an `org.opencontainers.image.ref.name`), or the
    /// only entry when no reference is given.
    static func select(_ reference: String?, in index: [UInt8], of layout: String) throws -> ImageSpec.Descriptor {
        let entries = try ImageSpec.decode(ImageSpec.Manifest.self, from: index, naming: "index.json of \(layout)").manifests ?? []
        let refName = "org.opencontainers.image.ref.name"
        guard let reference else {
            guard entries.count == 1 else { throw OCIError("\(layout) holds \(entries.count) images: name one as \(layout):REF") }
            return entries[0]
        }
        guard let match = entries.first(where: { $0.annotations?[refName] == reference }) else {
            let names = entries.compactMap { $0.annotations?[refName] }
            throw OCIError("\(layout) has no image named '\(reference)' (it has \(names.isEmpty ? "no names" : names.joined(separator: ", ")))")
        }
        return match
    }

    public func manifest(_ descriptor: ImageSpec.Descriptor) async throws -> [UInt8] { try await verifiedBlob(descriptor) }

    public func release(_ descriptor: ImageSpec.Descriptor) {}

    public func blob(_ descriptor: ImageSpec.Descriptor) async throws -> (path: String, offset: UInt64) {
        let path = directory + "/blobs/sha256/" + descriptor.digest.hex
        guard FileSystem.exists(path) else { throw OCIError("\(name) lacks the blob \(descriptor.digest)") }
        return (path, 0)
    }
}

/// `oci-archive:FILE[:REF]`: an OCI image layout in a tar archive, read in place (blobs are
/// read at their offsets in the archive, nothing is unpacked).
public struct OCIArchiveSource: ImageSource {
    public let name: String
    let archive: String
    let reference: String?
    /// Each regular member's data: offset and size.
    let members: [String: (offset: UInt64, size: UInt64)]

    public init(archive: String, reference: String?, name: String) throws {
        (self.archive, self.reference, self.name) = (archive, reference, name)
        let file = try File.open(archive, .readOnly)
        var reader = TarReader(TarTree.ArchiveFile(file, size: try file.size()))
        var members = [String: (offset: UInt64, size: UInt64)]()
        do {
            while let entry = try reader.next() {
                guard entry.fileType == .regular, !entry.isHardLink, case .archive(let offset) = entry.data else { continue }
                var path = String(decoding: entry.path, as: UTF8.self)
                while path.hasPrefix("./") { path.removeFirst(2) }
                members[path] = (offset, entry.size)
            }
        } catch let error as TarError {
            throw OCIError("\(archive) is not a readable OCI archive: \(error)")
        }
        self.members = members
    }

    public func topManifest() async throws -> (bytes: [UInt8], digest: OCIDigest) {
        guard let index = members["index.json"], index.size <= 16 << 20,
              let bytes = try File.open(archive, .readOnly).read(exactly: Int(index.size), at: index.offset) else {
            throw OCIError("\(archive) holds no OCI image layout (no index.json)")
        }
        let chosen = try OCILayoutSource.select(reference, in: bytes, of: archive)
        return (try await verifiedBlob(chosen), chosen.digest)
    }

    public func manifest(_ descriptor: ImageSpec.Descriptor) async throws -> [UInt8] { try await verifiedBlob(descriptor) }

    public func release(_ descriptor: ImageSpec.Descriptor) {}

    public func blob(_ descriptor: ImageSpec.Descriptor) async throws -> (path: String, offset: UInt64) {
        guard let member = members["blobs/sha256/" + descriptor.digest.hex] else { throw OCIError("\(name) lacks the blob \(descriptor.digest)") }
        guard member.size == descriptor.size else {
            throw OCIError("blob \(descriptor.digest) of \(name) is \(member.size) bytes, not the \(descriptor.size) its descriptor says")
        }
        return (archive, member.offset)
    }
}

/// Parses skopeo's transport syntax into a source.
public enum ImageReference {
    /// Whether `reference` names a source to pull (`docker://…`, `oci:…`, `oci-archive:…`)
    /// rather than an image already in a repository.
    public static func isSource(_ reference: String) -> Bool {
        ["docker://", "oci:", "oci-archive:"].contains(where: reference.hasPrefix)
    }

    /// - Parameters: `verifyTLS` and `credentials` apply to `docker://` references.
    public static func source(_ reference: String, verifyTLS: Bool = true, credentials: String? = nil) throws -> any ImageSource {
        if reference.hasPrefix("docker://") { return try RegistrySource(reference, verifyTLS: verifyTLS, credentials: credentials) }
        for transport in ["oci:", "oci-archive:"] where reference.hasPrefix(transport) {
            let parts = reference.dropFirst(transport.count).split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty else { throw OCIError("\(reference) names no \(transport == "oci:" ? "directory" : "archive")") }
            let tag = parts.count == 2 && !parts[1].isEmpty ? parts[1] : nil
            if transport == "oci:" { return OCILayoutSource(directory: parts[0], reference: tag, name: reference) }
            return try OCIArchiveSource(archive: parts[0], reference: tag, name: reference)
        }
        throw OCIError("\(reference) is not an image reference cairn reads (oci:DIR[:REF], oci-archive:FILE[:REF], docker://HOST/NAME[:TAG|@DIGEST])")
    }
}
