import CairnCasync
import CairnComposefs
import CairnErofs
import CairnIO
import Dispatch
import Foundation

/// `oci pull` (reference/composefs.md §3.2, with PR #263's EROFS at pull time): layers are
/// imported (those present skipped), merged, and the composefs image written at once; the
/// config stream names the layers and the image (`composefs.image.v1`), the manifest stream
/// names the config and layers, and the tag names the manifest, so one tag keeps it all alive.
/// Every name is written after what it points at is durable.
public struct ImagePuller {
    public struct Options: Sendable {
        public var platform = ImageSpec.Platform.current
        public var xattrs = MergedTree.XattrPolicy.allowlistOnly
        /// Also make the boot variant (`transform_for_boot`), named `composefs.image.boot.v1`.
        public var bootable = false
        /// Layers imported at once.
        public var jobs = 2
        /// Refuse a multi-platform index instead of choosing `platform` from it (a reproducible
        /// build must not depend on the machine it runs on).
        public var refusesIndex = false
        public init() {}
    }

    public struct Result: Codable, Sendable {
        public var manifestDigest: OCIDigest
        public var configDigest: OCIDigest
        /// fs-verity digests (hex) of the manifest and config streams as they are now, and of
        /// the composefs image.
        public var manifestStream: String
        public var configStream: String
        public var image: String
        public var bootImage: String?
        public var layersImported: Int
        public var layersPresent: Int
        public var tag: String?
    }

    public static let configContentType = SplitStream.contentType("ociconfg")
    public static let manifestContentType = SplitStream.contentType("ocimanif")
    /// The config's named refs to the V0/V1 composefs image and its boot variant. Every image
    /// ref's name starts with `composefs.image` (composefs-rs's own V2 image has just that name).
    public static let imageRefName = "composefs.image.v1"
    public static let bootImageRefName = "composefs.image.boot.v1"
    static let imageRefPrefix = Array("composefs.image".utf8)

    /// The boot variant's ref: composefs-rs names one made with other xattr rules apart.
    static func bootRefName(_ xattrs: MergedTree.XattrPolicy) -> String {
        xattrs == .keepUserXattrs ? bootImageRefName + ".xattrs=keep-user-xattrs" : bootImageRefName
    }

    let repository: Repository
    let options: Options

    public init(repository: Repository, options: Options = Options()) {
        (self.repository, self.options) = (repository, options)
    }

    public func pull(_ source: any ImageSource, tag: String?) async throws -> Result {
        try repository.requireWritable()
        try Self.checkFormat(repository)
        if let tag { try ImageTags.check(tag) }
        var (manifestBytes, manifestDigest) = try await source.topManifest()
        var manifest = try ImageSpec.decode(ImageSpec.Manifest.self, from: manifestBytes, naming: "manifest \(manifestDigest) of \(source.name)")
        if manifest.isIndex {
            if options.refusesIndex {
                throw OCIError("\(source.name) is a multi-platform index (\(manifestDigest)); name the platform (--platform) or pin a platform's manifest")
            }
            let chosen = try ImageSpec.select(options.platform, in: manifest, naming: source.name)
            manifestBytes = try await source.manifest(chosen)
            manifestDigest = chosen.digest
            manifest = try ImageSpec.decode(ImageSpec.Manifest.self, from: manifestBytes, naming: "manifest \(manifestDigest) of \(source.name)")
        }
        guard let configDescriptor = manifest.config, let layers = manifest.layers else {
            throw OCIError("manifest \(manifestDigest) of \(source.name) has no config or no layers")
        }
        let configType = configDescriptor.mediaType ?? ImageSpec.imageConfigType
        guard configType == ImageSpec.imageConfigType || configType == ImageSpec.dockerConfigType else {
            throw OCIError("\(source.name) is an artifact (config type \(configType)), not a container image")
        }
        let configBytes = try await source.verifiedBlob(configDescriptor)
        let config = try ImageSpec.decode(ImageSpec.Config.self, from: configBytes, naming: "config \(configDescriptor.digest) of \(source.name)")
        let diffIDs = config.rootfs.diff_ids
        guard diffIDs.count == layers.count else {
            throw OCIError("\(source.name): the config lists \(diffIDs.count) diff_ids for \(layers.count) layers")
        }

        // Layers not in the repository yet, largest first.
        var missing = [(descriptor: ImageSpec.Descriptor, diffID: OCIDigest)]()
        for (descriptor, diffID) in zip(layers, diffIDs) where try repository.streamDigest(named: LayerImporter.streamName(of: diffID)) == nil {
            if !missing.contains(where: { $0.diffID == diffID }) { missing.append((descriptor, diffID)) }
        }
        missing.sort { $0.descriptor.size > $1.descriptor.size }
        try await importLayers(missing, from: source)

        // Merge, then the composefs image.
        let layerStreams = try diffIDs.map { diffID in
            let name = LayerImporter.streamName(of: diffID)
            guard let digest = try repository.streamDigest(named: name) else { throw OCIError("layer stream \(name) vanished during the pull") }
            return (diffID: diffID, stream: digest)
        }
        let images = try MergedTree.composefsImages(of: layerStreams, in: repository, xattrs: options.xattrs, bootable: options.bootable)
        let (image, bootImage) = try Self.store(images, in: repository)
        let streams = try Self.recordImages(
            in: repository, config: (configBytes, configDescriptor.digest), manifest: (manifestBytes, manifestDigest),
            layers: layerStreams, image: image, bootImage: bootImage, xattrs: options.xattrs)
        if let tag { try repository.setStreamRef(ImageTags.refPath(tag), to: "oci-manifest-" + manifestDigest.description) }

        return Result(
            manifestDigest: manifestDigest, configDigest: configDescriptor.digest,
            manifestStream: Hex.encode(streams.manifest), configStream: Hex.encode(streams.config), image: Hex.encode(image), bootImage: bootImage.map { Hex.encode($0) },
            layersImported: missing.count, layersPresent: Set(diffIDs).count - missing.count, tag: tag)
    }

    /// Stores the composefs image (and boot variant) as objects named in `images/`.
    static func store(_ images: (image: [UInt8], boot: [UInt8]?), in repository: Repository) throws -> (image: [UInt8], boot: [UInt8]?) {
        let image = try repository.storeObject(images.image)
        try repository.registerImage(image)
        let boot = try images.boot.map { try repository.storeObject($0) }
        if let boot { try repository.registerImage(boot) }
        return (image, boot)
    }

    /// composefs-rs's rewrite cascade: the config stream (the raw JSON; named refs in
    /// composefs-rs's order: the layers by diff_id, then its image refs: composefs-rs's V2 image,
    /// the V1 image, the boot variants, by name, this pull's replacing an earlier one's), then
    /// the manifest stream naming the new config stream and the layers. Returns both streams'
    /// digests. Every name is written after what it points at is durable (`writeStream`).
    static func recordImages(
        in repository: Repository, config: (bytes: [UInt8], digest: OCIDigest), manifest: (bytes: [UInt8], digest: OCIDigest),
        layers: [(diffID: OCIDigest, stream: [UInt8])], image: [UInt8], bootImage: [UInt8]?, xattrs: MergedTree.XattrPolicy
    ) throws -> (config: [UInt8], manifest: [UInt8]) {
        let configName = "oci-config-" + config.digest.description
        var configStream = SplitStream(algorithm: repository.algorithm, contentType: configContentType)
        configStream.append(object: try repository.storeObject(config.bytes), size: UInt64(config.bytes.count))
        for layer in layers { configStream.addNamedRef(Array(layer.diffID.description.utf8), digest: layer.stream) }
        var imageRefs = [[UInt8]: [UInt8]]()
        if let existing = try repository.streamDigest(named: configName) {
            let old = try repository.readStream(existing, contentType: configContentType)
            for (name, index) in old.namedRefs where name.starts(with: imageRefPrefix) { imageRefs[name] = old.streamRefs[index] }
        }
        imageRefs[Array(imageRefName.utf8)] = image
        if let bootImage { imageRefs[Array(bootRefName(xattrs).utf8)] = bootImage }
        let rank = { (name: [UInt8]) in name == imageRefPrefix ? 0 : name == Array(imageRefName.utf8) ? 1 : 2 }
        for name in imageRefs.keys.sorted(by: { a, b in rank(a) != rank(b) ? rank(a) < rank(b) : a.lexicographicallyPrecedes(b) }) {
            configStream.addNamedRef(name, digest: imageRefs[name]!)
        }
        let configStreamDigest = try repository.writeStream(configStream, named: configName)

        var manifestStream = SplitStream(algorithm: repository.algorithm, contentType: manifestContentType)
        manifestStream.append(object: try repository.storeObject(manifest.bytes), size: UInt64(manifest.bytes.count))
        manifestStream.addNamedRef(Array(("config:" + config.digest.description).utf8), digest: configStreamDigest)
        for layer in layers { manifestStream.addNamedRef(Array(layer.diffID.description.utf8), digest: layer.stream) }
        let manifestStreamDigest = try repository.writeStream(manifestStream, named: "oci-manifest-" + manifest.digest.description)
        return (configStreamDigest, manifestStreamDigest)
    }

    /// Fetches and imports `jobs` layers at a time, the next largest starting as one finishes,
    /// so one layer downloads while another is split. The import runs on a thread of its own,
    /// leaving the task threads free for the downloads.
    private func importLayers(_ layers: [(descriptor: ImageSpec.Descriptor, diffID: OCIDigest)], from source: any ImageSource) async throws {
        let repository = self.repository
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func start() {
                let layer = layers[next]
                next += 1
                group.addTask {
                    let (path, offset) = try await source.blob(layer.descriptor)
                    defer { source.release(layer.descriptor) }
                    try await Self.onThread {
                        try LayerImporter.importLayer(blob: path, at: offset, descriptor: layer.descriptor, diffID: layer.diffID, into: repository)
                    }
                }
            }
            for _ in 0..<min(max(1, options.jobs), layers.count) { start() }
            while try await group.next() != nil {
                if next < layers.count { start() }
            }
        }
    }

    static func onThread(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async(execute: DispatchWorkItem {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            })
        }
    }

    /// cairn writes composefs formats 0 and 1; a repository whose default is 2 (composefs-rs's
    /// older default) needs composefs-rs to pull.
    static func checkFormat(_ repository: Repository) throws {
        guard repository.metadata.defaultFormat <= 1 else {
            throw OCIError("\(repository.path) makes EROFS format \(repository.metadata.defaultFormat) images, which cairn does not write (it writes 0 and 1)")
        }
    }
}

/// OCI tags as composefs-rs stores them: `streams/refs/oci/<tag>` with `%` as `%25` and `/` as `%2F`.
public enum ImageTags {
    public static func check(_ tag: String) throws {
        guard !tag.isEmpty, !tag.hasPrefix("@"), !tag.contains("\0") else {
            throw OCIError("'\(tag)' is not a tag (empty, or starting with '@', which names a digest)")
        }
    }

    public static func encode(_ tag: String) -> String {
        tag.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
    }

    /// One pass: only `%2F` and `%25` are decoded.
    public static func decode(_ name: String) -> String {
        var out = ""
        var rest = Substring(name)
        while let percent = rest.firstIndex(of: "%") {
            out += rest[..<percent]
            let code = rest[percent...].prefix(3)
            if code == "%2F" { out += "/" } else if code == "%25" { out += "%" } else { out += code }
            rest = rest[rest.index(percent, offsetBy: code.count)...]
        }
        return out + rest
    }

    public static func refPath(_ tag: String) -> String { "oci/" + encode(tag) }
}
