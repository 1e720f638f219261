import CairnCasync
import CairnComposefs
import CairnErofs
import CairnIO

/// The OCI images of a repository, read back through their tags and streams.
public struct ImageStore {
    public struct Image: Codable, Sendable {
        public var tag: String
        public var manifestDigest: OCIDigest
        public var configDigest: OCIDigest?
        /// The composefs image's fs-verity digest (hex), if the config names one.
        public var image: String?
        /// The boot variant's, if one was made.
        public var bootImage: String?
    }

    let repository: Repository

    public init(_ repository: Repository) { self.repository = repository }

    /// Every tagged image, in tag order.
    public func images() throws -> [Image] {
        try repository.streamRefs(under: "oci").map { ref, stream in try describe(tag: ImageTags.decode(ref), manifestStream: stream) }
            .sorted { $0.tag < $1.tag }
    }

    /// A tag, or `@sha256:…` / `sha256:…` for a pulled manifest by digest.
    public func image(named name: String) throws -> Image {
        let digestText = name.hasPrefix("@") ? String(name.dropFirst()) : name
        if let digest = OCIDigest(digestText) {
            let stream = "oci-manifest-" + digest.description
            guard try repository.streamDigest(named: stream) != nil else {
                throw OCIError("no image with the manifest \(digest) in \(repository.path) (no stream streams/\(stream))")
            }
            return try describe(tag: name, manifestStream: stream)
        }
        try ImageTags.check(name)
        guard let stream = try repository.streamRef(ImageTags.refPath(name)) else { throw OCIError("no image is tagged '\(name)' in \(repository.path)") }
        return try describe(tag: name, manifestStream: stream)
    }

    private func describe(tag: String, manifestStream: String) throws -> Image {
        guard manifestStream.hasPrefix("oci-manifest-"), let digest = OCIDigest(manifestStream.dropFirst("oci-manifest-".count)) else {
            throw OCIError("tag '\(tag)' points at \(manifestStream), which is no manifest stream")
        }
        guard let manifestDigest = try repository.streamDigest(named: manifestStream) else {
            throw OCIError("tag '\(tag)' points at the stream \(manifestStream), which is missing")
        }
        let manifest = try repository.readStream(manifestDigest, contentType: ImagePuller.manifestContentType)
        var image = Image(tag: tag, manifestDigest: digest)
        let configPrefix = Array("config:".utf8)
        guard let (name, index) = manifest.namedRefs.first(where: { $0.name.starts(with: configPrefix) }) else { return image }
        image.configDigest = OCIDigest(String(decoding: name.dropFirst(configPrefix.count), as: UTF8.self))
        let config = try repository.readStream(manifest.streamRefs[index], contentType: ImagePuller.configContentType)
        func ref(_ name: String) -> String? {
            config.namedRefs.first { $0.name == Array(name.utf8) }.map { Hex.encode(config.streamRefs[$0.index]) }
        }
        (image.image, image.bootImage) = (ref(ImagePuller.imageRefName), ref(ImagePuller.bootImageRefName))
        return image
    }

    /// Reassembles every layer stream and checks that it is the tar its name says (its SHA-256
    /// is the diff_id in the name): one sentence per layer that is not.
    public func checkLayers() throws -> [String] {
        var problems = [String]()
        for name in try FileSystem.contents(of: repository.path + "/streams").sorted() where name.hasPrefix("oci-layer-") {
            guard let diffID = OCIDigest(name.dropFirst("oci-layer-".count)), let digest = try repository.streamDigest(named: name) else { continue }
            do {
                let hasher = DigestAlgorithm.sha256.makeHasher()
                try repository.reassemble(try repository.readStream(digest, contentType: LayerImporter.contentType)) { hasher.update($0) }
                let actual = OCIDigest(sha256: hasher.finalize())
                if actual != diffID { problems.append("layer stream \(name) reassembles to \(actual)") }
            } catch {
                problems.append("layer stream \(name) cannot be reassembled: \(error)")
            }
        }
        return problems
    }

    /// The fs-verity digest (hex) of the composefs image (or its boot variant) of the image
    /// `name` names.
    public func composefsImage(of name: String, boot: Bool = false) throws -> String {
        let image = try image(named: name)
        if boot {
            guard let hex = image.bootImage else { throw OCIError("\(name) has no boot image (pull it again with --bootable to make one)") }
            return hex
        }
        guard let hex = image.image else { throw OCIError("\(name) has no composefs image (pull it again to make one)") }
        return hex
    }

    /// The raw manifest and config JSON of the image `name` names, read back from their streams.
    public func documents(of name: String) throws -> (image: Image, manifest: [UInt8], config: [UInt8]?) {
        let image = try image(named: name)
        let manifestStream = try repository.readStream(try streamDigest("oci-manifest-" + image.manifestDigest.description), contentType: ImagePuller.manifestContentType)
        let manifest = try bytes(of: manifestStream, expecting: image.manifestDigest)
        guard let configDigest = image.configDigest else { return (image, manifest, nil) }
        let configStream = try repository.readStream(try streamDigest("oci-config-" + configDigest.description), contentType: ImagePuller.configContentType)
        return (image, manifest, try bytes(of: configStream, expecting: configDigest))
    }

    /// The composefs image of `name`'s layers (or its boot variant), made again from its layer
    /// streams as a pull made it, and its fs-verity digest: the boot variant's is what a
    /// deployment of it is named by.
    public func computeImage(of name: String, xattrs: MergedTree.XattrPolicy = .allowlistOnly, boot: Bool = false) throws -> (bytes: [UInt8], digest: [UInt8]) {
        let layers = try contents(of: try image(named: name)).layers
        let images = try MergedTree.composefsImages(of: layers, in: repository, xattrs: xattrs, bootable: boot)
        let bytes = images.boot ?? images.image
        return (bytes, FsVerity.digest(of: bytes, algorithm: repository.algorithm))
    }

    /// The merged tree of `name`'s layers (composefs's OCI rules) as a full file tree: every
    /// regular file's bytes come from its object in the repository (or are held inline), for a
    /// full-data EROFS image (`cairn build`). The same layers give the same tree.
    public func fullTree(of name: String) throws -> FileNode {
        let root = try MergedTree.merging(try contents(of: try image(named: name)).layers, in: repository).fileTree()
        var pending = [root]
        while let node = pending.popLast() {
            pending += node.children
            guard node.fileType == .regular, node.linkTarget == nil, let payload = node.payload else { continue }
            node.source = DataSource(path: Array((repository.path + "/objects/").utf8) + payload)
            (node.payload, node.digest) = (nil, nil)
        }
        return root
    }

    /// composefs-rs's `generate_boot_image`: the boot variant's digest (hex) of the image `name`
    /// names, made and recorded in its config and manifest streams unless it is there already.
    public func ensureBootImage(of name: String) throws -> String {
        let image = try image(named: name)
        if let boot = image.bootImage { return boot }
        let (config, layers) = try contents(of: image)
        let made = try MergedTree.composefsImages(of: layers, in: repository, xattrs: .allowlistOnly, bootable: true)
        let (plain, stored) = try ImagePuller.store(made, in: repository)
        guard let boot = stored else { throw OCIError("\(name): no boot image was made") }
        let manifest = try repository.readStream(try streamDigest("oci-manifest-" + image.manifestDigest.description), contentType: ImagePuller.manifestContentType)
        _ = try ImagePuller.recordImages(
            in: repository, config: config, manifest: (try bytes(of: manifest, expecting: image.manifestDigest), image.manifestDigest),
            layers: layers, image: plain, bootImage: boot, xattrs: .allowlistOnly)
        return Hex.encode(boot)
    }

    /// An image's raw config and its layer streams by diff_id, in the config's order.
    private func contents(of image: Image) throws -> (config: (bytes: [UInt8], digest: OCIDigest), layers: [(diffID: OCIDigest, stream: [UInt8])]) {
        guard let configDigest = image.configDigest else { throw OCIError("\(image.tag) is not a container image (its manifest names no config)") }
        let config = try repository.readStream(try streamDigest("oci-config-" + configDigest.description), contentType: ImagePuller.configContentType)
        let configBytes = try bytes(of: config, expecting: configDigest)
        let document = try ImageSpec.decode(ImageSpec.Config.self, from: configBytes, naming: "config \(configDigest)")
        let layers = try document.rootfs.diff_ids.map { diffID in
            guard let (_, index) = config.namedRefs.first(where: { $0.name == Array(diffID.description.utf8) }) else {
                throw OCIError("config stream of \(configDigest) names no layer \(diffID)")
            }
            return (diffID: diffID, stream: config.streamRefs[index])
        }
        return ((configBytes, configDigest), layers)
    }

    private func streamDigest(_ name: String) throws -> [UInt8] {
        guard let digest = try repository.streamDigest(named: name) else { throw OCIError("stream \(name) is missing from \(repository.path)") }
        return digest
    }

    /// A manifest or config stream's raw JSON, checked against its OCI digest.
    private func bytes(of stream: SplitStream, expecting digest: OCIDigest) throws -> [UInt8] {
        var bytes = [UInt8]()
        try repository.reassemble(stream) { bytes += $0 }
        guard OCIDigest(of: bytes) == digest else { throw OCIError("the stream of \(digest) does not hold that document") }
        return bytes
    }

    /// Points `tag` at the image `name` names.
    public func tag(_ name: String, as tag: String) throws {
        let image = try image(named: name)
        try ImageTags.check(tag)
        try repository.setStreamRef(ImageTags.refPath(tag), to: "oci-manifest-" + image.manifestDigest.description)
    }

    /// Removes a tag; its image stays until a GC finds nothing else keeps it.
    public func untag(_ tag: String) throws {
        try ImageTags.check(tag)
        guard try repository.removeStreamRef(ImageTags.refPath(tag)) else { throw OCIError("no image is tagged '\(tag)' in \(repository.path)") }
    }
}
