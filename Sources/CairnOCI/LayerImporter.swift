import CairnComposefs
import CairnErofs
import CairnIO
import SystemPackage

/// Imports a tar layer into a repository as composefs-rs does (reference/composefs.md §3.3):
/// the content of every regular file over 64 bytes becomes an object; headers, padding, small
/// files and the end-of-archive (GNU record padding included) stay inline in the layer's
/// splitstream, so the stream reassembles into the exact tar whose SHA-256 is the diff_id.
public enum LayerImporter {
    /// Files up to this size stay inline (a format constant: it decides every image digest).
    public static let inlineLimit: UInt64 = 64
    public static let contentType = SplitStream.contentType("ocilayer")

    /// The name of a layer's stream in `streams/`: `oci-layer-<diff_id>`.
    public static func streamName(of diffID: OCIDigest) -> String { "oci-layer-" + diffID.description }
    /// The most data an entry kept inline may carry (a special file's odd data): 1 MiB.
    static let inlineDataLimit: UInt64 = 1 << 20
    /// The most bytes accepted after the end-of-archive blocks (GNU record padding is at most
    /// one record; `tar -b 2048` makes 1 MiB records).
    static let trailerLimit = 1 << 20

    /// Imports the blob in the file `blob` from `offset` (described by `descriptor`, expected to decompress to
    /// `diffID`) and names its stream `oci-layer-<diffID>` once both digests check out.
    /// Returns the stream's digest.
    @discardableResult
    public static func importLayer(blob: String, at offset: UInt64 = 0, descriptor: ImageSpec.Descriptor, diffID: OCIDigest, into repository: Repository) throws -> [UInt8] {
        let mediaType = descriptor.mediaType ?? "application/vnd.oci.image.layer.v1.tar"
        guard let compression = BlobReader.compression(ofLayerType: mediaType) else {
            throw OCIError("layer \(descriptor.digest) has the media type \(mediaType), which is not a tar layer")
        }
        let reader = try BlobReader(file: try File.open(blob, .readOnly), at: offset, name: descriptor.digest.description, digest: descriptor.digest, size: descriptor.size, compression: compression)
        var tar = TarReader(Splitter(blob: reader, repository: repository))
        do {
            while try tar.next() != nil {}
        } catch let error as TarError {
            throw OCIError("layer \(descriptor.digest): \(error)")
        }
        var splitter = tar.source
        splitter.appendInline(try reader.readRest(limit: trailerLimit))
        let content = try reader.finish()
        guard content == diffID else { throw OCIError("layer \(descriptor.digest) decompresses to \(content), not the diff_id \(diffID) its config names") }
        return try repository.writeStream(try splitter.stream(), named: streamName(of: diffID))
    }

    /// The source the tar walk reads while the layer is split: every byte it reads goes inline
    /// into the stream, except a large file's content, which goes to an object written by
    /// `ObjectPipeline` on another thread (the stream is assembled once all digests are known).
    struct Splitter: TarSource {
        let blob: BlobReader
        let repository: Repository
        let objects: ObjectPipeline
        /// The stream's chunks so far; an external chunk's index is the object's number in the
        /// pipeline until `stream()` swaps in the digests.
        var chunks = [SplitStream.Chunk]()
        var objectSizes = [UInt64]()
        var offset: UInt64 = 0

        init(blob: BlobReader, repository: Repository) {
            (self.blob, self.repository) = (blob, repository)
            objects = ObjectPipeline(repository)
        }

        mutating func appendInline(_ bytes: [UInt8]) { SplitStream.append(inline: bytes, to: &chunks) }

        mutating func read(_ count: Int) throws -> [UInt8]? {
            guard let bytes = try blob.read(count) else { return nil }
            appendInline(bytes)
            offset += UInt64(count)
            return bytes
        }

        /// A large file's data goes to the object pipeline; its digest is not known yet, so the
        /// entry's data is reported as `.none` (the walk only needs the stream).
        mutating func data(_ size: UInt64, of entry: TarEntry) throws -> TarData {
            let padded = TarEntry.padded(size)
            guard LayerImporter.isExternal(entry, size: size) else { return try inlineData(size, of: entry, in: "layer \(blob.name)") }
            objects.begin()
            try blob.stream(size) { [objects] piece in objects.write(Array(piece)) }
            objects.end()
            chunks.append(.external(index: objectSizes.count))
            objectSizes.append(size)
            offset += size
            if padded > size {
                guard try read(Int(padded - size)) != nil else { throw TarError(entry, "lacks the padding after its data") }
            }
            return .none
        }

        /// The layer's splitstream, once every object is written.
        func stream() throws -> SplitStream {
            let digests = try objects.finish()
            var stream = SplitStream(algorithm: repository.algorithm, contentType: LayerImporter.contentType)
            for chunk in chunks {
                switch chunk {
                case .inline(let bytes): stream.append(inline: bytes)
                case .external(let number): stream.append(object: digests[number], size: objectSizes[number])
                }
            }
            return stream
        }
    }

    /// Whether an entry's data is an object: regular files (not hard links) over 64 bytes.
    static func isExternal(_ entry: TarEntry, size: UInt64) -> Bool {
        entry.fileType == .regular && !entry.isHardLink && size > inlineLimit
    }

    /// A layer's splitstream read back as a tar: headers from the inline bytes, a large file's
    /// data as the object that holds it.
    struct StreamSource: TarSource {
        let stream: SplitStream
        let name: String
        private var chunk = 0
        private var position = 0
        var offset: UInt64 = 0

        init(_ stream: SplitStream, name: String) { (self.stream, self.name) = (stream, name) }

        mutating func read(_ count: Int) throws -> [UInt8]? {
            var bytes = [UInt8]()
            bytes.reserveCapacity(count)
            while bytes.count < count, chunk < stream.chunks.count {
                guard case .inline(let inline) = stream.chunks[chunk] else {
                    throw OCIError("layer stream \(name) has an object where tar headers belong (at byte \(offset + UInt64(bytes.count)))")
                }
                let take = min(count - bytes.count, inline.count - position)
                bytes += inline[position..<(position + take)]
                position += take
                if position == inline.count { (chunk, position) = (chunk + 1, 0) }
            }
            if bytes.isEmpty { return nil }
            guard bytes.count == count else { throw OCIError("layer stream \(name) ends inside a tar header") }
            offset += UInt64(count)
            return bytes
        }

        mutating func data(_ size: UInt64, of entry: TarEntry) throws -> TarData {
            let padded = TarEntry.padded(size)
            guard LayerImporter.isExternal(entry, size: size) else { return try inlineData(size, of: entry, in: "layer stream \(name)") }
            guard chunk < stream.chunks.count, position == 0, case .external(let index) = stream.chunks[chunk] else {
                throw OCIError("layer stream \(name) keeps \(RawPath.display(entry.path)) (\(size) bytes) inline, where an object belongs")
            }
            chunk += 1
            offset += size
            if padded > size { _ = try read(Int(padded - size)) }
            return .object(stream.objectRefs[index])
        }
    }
}

extension TarSource {
    /// Data kept inline (small files, special files' odd data): its bytes, padding dropped.
    mutating func inlineData(_ size: UInt64, of entry: TarEntry, in name: String) throws -> TarData {
        guard size > 0 else { return .none }
        // Inline data is a small file's content or the odd data of a special file: held in memory.
        guard size <= LayerImporter.inlineDataLimit else {
            throw OCIError("\(name): \(RawPath.display(entry.path)) carries \(size) bytes of data a \(entry.fileType) cannot have")
        }
        guard let bytes = try read(Int(TarEntry.padded(size))) else { throw OCIError("\(name) ends inside the data of \(RawPath.display(entry.path))") }
        return .inline(Array(bytes.prefix(Int(size))))
    }
}
