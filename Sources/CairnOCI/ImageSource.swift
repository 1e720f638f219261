import CairnCasync
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
        let index = try ImageSpec.decode(ImageSpec.Manifest.self, from: try File.open(indexPath, .readOnly).readAll(), naming: indexPath)
        let entries = index.manifests ?? []
        let refName = "org.opencontainers.image.ref.name"
        let chosen: ImageSpec.Descriptor
        if let reference {
            guard let match = entries.first(where: { $0.annotations?[refName] == reference }) else {
                let names = entries.compactMap { $0.annotations?[refName] }
                throw OCIError("\(directory) has no image named '\(reference)' (it has \(names.isEmpty ? "no names" : names.joined(separator: ", ")))")
            }
            chosen = match
        } else {
            guard entries.count == 1 else { throw OCIError("\(directory) holds \(entries.count) images: name one as oci:\(directory):REF") }
            chosen = entries[0]
        }
        return (try await verifiedBlob(chosen), chosen.digest)
    }

    public func manifest(_ descriptor: ImageSpec.Descriptor) async throws -> [UInt8] { try await verifiedBlob(descriptor) }

    public func release(_ descriptor: ImageSpec.Descriptor) {}

    public func blob(_ descriptor: ImageSpec.Descriptor) async throws -> (path: String, offset: UInt64) {
        let path = directory + "/blobs/sha256/" + descriptor.digest.hex
        guard FileSystem.exists(path) else { throw OCIError("\(name) lacks the blob \(descriptor.digest)") }
        return (path, 0)
    }
}

/// Parses skopeo's transport syntax into a source.
public enum ImageReference {
    /// - Parameters: `verifyTLS` and `credentials` apply to `docker://` references.
    public static func source(_ reference: String, verifyTLS: Bool = true, credentials: String? = nil) throws -> any ImageSource {
        if reference.hasPrefix("docker://") { return try RegistrySource(reference, verifyTLS: verifyTLS, credentials: credentials) }
        if reference.hasPrefix("oci:") {
            let rest = reference.dropFirst(4)
            let parts = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty else { throw OCIError("\(reference) names no directory") }
            return OCILayoutSource(directory: parts[0], reference: parts.count == 2 && !parts[1].isEmpty ? parts[1] : nil, name: reference)
        }
        throw OCIError("\(reference) is not an image reference cairn reads (oci:DIR[:REF], docker://HOST/NAME[:TAG|@DIGEST])")
    }
}
