import ArgumentParser
import CairnCasync
import CairnErofs
import CairnIO
import CairnOCI

struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Write a full-data EROFS image of an OCI image, reproducibly.",
        discussion: "IMAGE is a source pinned by digest (docker://HOST/NAME@sha256:…, oci:DIR[:REF], oci-archive:FILE[:REF]), pulled through the composefs repository as needed, or a tag or sha256: manifest digest already in it. The layers are merged with composefs's OCI rules (the tree `cairn oci dump` shows); the image is written as `cairn mkfs-erofs` writes one, so the same manifest gives the same bytes on any machine. It appears complete or not at all.")

    @OptionGroup var repository: RepositoryOption
    @Option(help: "The image to build from.") var from: String
    @Option(help: "The EROFS image to write.") var out: String
    @OptionGroup var sourceOptions: SourceOptions

    func run() async throws {
        let repository = try repository.open()
        var name = from
        if ImageReference.isSource(from) {
            guard !from.hasPrefix("docker://") || from.contains("@sha256:") else {
                throw ValidationError("--from \(from) names a tag, which can move: pin it by digest (…@sha256:…) for a reproducible build")
            }
            var options = ImagePuller.Options()
            options.platform = try sourceOptions.parsedPlatform
            options.refusesIndex = sourceOptions.platform == nil
            name = "@" + (try await ImagePuller(repository: repository, options: options).pull(try sourceOptions.source(from), tag: nil)).manifestDigest.description
        }
        let store = ImageStore(repository)
        let digest = try store.image(named: name).manifestDigest
        let root = try store.fullTree(of: name)
        var options = ErofsWriter.Options()
        options.checksum = true
        let output = try AtomicFile(path: out)
        var sink = FileSink(output.file)
        try ErofsWriter.write(root, options: options, to: &sink)
        try sink.flush()
        try output.commit(durable: true)
        print("\(out): built from manifest \(digest)")
    }
}
