import ArgumentParser
import CairnCasync
import CairnComposefs
import CairnErofs
import CairnIO
import CairnOCI
import FoundationEssentials

struct OCICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oci",
        abstract: "Pull OCI images into a composefs repository and work with them.",
        subcommands: [Pull.self, Images.self, Inspect.self, ComputeID.self, Dump.self, Mount.self, Tag.self, Untag.self]
    )

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pull an image: import its layers, write its composefs image, tag it.",
            discussion: "SOURCE is oci:DIR[:REF] or docker://HOST/NAME[:TAG|@DIGEST]. The tag (default: SOURCE itself) keeps the manifest, config, layers and composefs image alive through garbage collection. Registry credentials come from --creds, else $REGISTRY_AUTH_FILE, containers' auth.json or ~/.docker/config.json.")

        @OptionGroup var repository: RepositoryOption
        @Argument(help: "The image: oci:DIR[:REF] or docker://HOST/NAME[:TAG|@DIGEST].") var source: String
        @Argument(help: "The tag to give it (default: SOURCE).") var tag: String?
        @Flag(help: "Keep user.* xattrs in the composefs image (by default only security.capability stays).") var keepUserXattrs = false
        @Flag(help: "Also make the boot variant: /boot and /sysroot emptied, labels from the image's SELinux policy.") var bootable = false
        @Option(help: "Layers imported at once.") var jobs = 2
        @OptionGroup var sourceOptions: SourceOptions
        @Flag(help: "Print the result as JSON.") var json = false

        func run() async throws {
            var options = ImagePuller.Options()
            options.platform = try sourceOptions.parsedPlatform
            options.xattrs = keepUserXattrs ? .keepUserXattrs : .allowlistOnly
            options.jobs = max(1, jobs)
            options.bootable = bootable
            let result = try await ImagePuller(repository: try repository.open(), options: options).pull(try sourceOptions.source(source), tag: tag ?? source)
            if json { return try printJSON(result) }
            print("\(result.tag ?? source): manifest \(result.manifestDigest), \(result.layersImported) layers imported, \(result.layersPresent) present")
            print("image \(result.image)")
            if let boot = result.bootImage { print("boot image \(boot)") }
        }
    }

    struct Images: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tagged images.")

        @OptionGroup var repository: RepositoryOption
        @Flag(help: "Print the list as JSON.") var json = false

        func run() async throws {
            let images = try ImageStore(try repository.open()).images()
            if json { return try printJSON(images) }
            for image in images { print("\(image.tag)\t\(image.manifestDigest)\t\(image.image ?? "-")") }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print an image's tag, digests, composefs image, manifest and config as JSON.")

        @OptionGroup var repository: RepositoryOption
        @Argument(help: "A tag, or the manifest's sha256:… digest.") var name: String

        struct Report: Encodable {
            var image: ImageStore.Image
            var manifest: JSONDocument
            var config: JSONDocument?
        }

        func run() async throws {
            let (image, manifest, config) = try ImageStore(try repository.open()).documents(of: name)
            try printJSON(Report(image: image, manifest: try JSONDocument(manifest), config: try config.map(JSONDocument.init)))
        }
    }

    struct ComputeID: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "compute-id",
            abstract: "Make an image's composefs image again from its layers and print its fs-verity digest.",
            discussion: "The digest a deployment of the image is named by; it matches the image the pull stored (exit 1 if not).")

        @OptionGroup var repository: RepositoryOption
        @Argument(help: "A tag, or the manifest's sha256:… digest.") var name: String
        @Flag(help: "Keep user.* xattrs, as a pull with --keep-user-xattrs does.") var keepUserXattrs = false
        @Flag(help: "The boot variant's digest (a deployment's id).") var bootable = false

        func run() async throws {
            let store = ImageStore(try repository.open())
            let (_, digest) = try store.computeImage(of: name, xattrs: keepUserXattrs ? .keepUserXattrs : .allowlistOnly, boot: bootable)
            print(Hex.encode(digest))
            let image = try store.image(named: name)
            if !keepUserXattrs, let stored = bootable ? image.bootImage : image.image, stored != Hex.encode(digest) {
                throw CommandFailure("the \(bootable ? "boot " : "")image the pull stored for \(name) is \(stored), not the one its layers make")
            }
        }
    }

    struct Dump: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the dumpfile (composefs-dump(5)) of an image's merged tree.")

        @OptionGroup var repository: RepositoryOption
        @Argument(help: "A tag, or the manifest's sha256:… digest.") var name: String
        @Flag(help: "The boot variant's tree.") var bootable = false

        func run() async throws {
            let repository = try repository.open()
            let digest = Hex.decode(try ImageStore(repository).composefsImage(of: name, boot: bootable)) ?? []
            let erofs = try ErofsImage(try FileImage(path: repository.objectPath(digest)))
            try File.writeStandardOutput(Dumpfile.write(try ComposefsImage.read(erofs)))
        }
    }

    struct Mount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mount an image's composefs image read-only at DIR (root).",
            discussion: "The EROFS image (opened through images/, the only place this repository mounts from) on a loop device, under overlayfs with objects/ as a data-only lower layer. In a secure repository the image's fs-verity digest must be its name, and overlayfs checks every file's (verity=require). `umount DIR` undoes it.")

        @OptionGroup var repository: RepositoryOption
        @Argument(help: "A tag, or the manifest's sha256:… digest.") var name: String
        @Argument(help: "An existing directory to mount on.") var directory: String
        @Flag(help: "Mount the boot variant.") var bootable = false

        func run() async throws {
            let repository = try repository.open()
            try repository.mountImage(try ImageStore(repository).composefsImage(of: name, boot: bootable), at: directory)
        }
    }

    struct Tag: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give an image another tag.")

        @OptionGroup var repository: RepositoryOption
        @Argument(help: "A tag, or the manifest's sha256:… digest.") var name: String
        @Argument(help: "The new tag.") var tag: String

        func run() async throws { try ImageStore(try repository.open()).tag(name, as: tag) }
    }

    struct Untag: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a tag (the next repo gc frees what nothing else keeps).")

        @OptionGroup var repository: RepositoryOption
        @Argument(help: "The tag.") var tag: String

        func run() async throws { try ImageStore(try repository.open()).untag(tag) }
    }
}

/// A JSON document printed as itself (re-parsed so it nests in a report).
struct JSONDocument: Encodable {
    let value: JSONValue
    init(_ bytes: [UInt8]) throws { value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

indirect enum JSONValue: Codable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try value.rounded() == value && abs(value) < 1e15 ? container.encode(Int64(value)) : container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
