import ArgumentParser
import CairnBlob
import CairnCasync
import CairnComposefs
import CairnErofs
import CairnIO
import SystemPackage

struct MkcomposefsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mkcomposefs",
        abstract: "Write a composefs image, byte-identical to C mkcomposefs for the same input.",
        discussion: """
            SOURCE is a directory, or a dumpfile with --from-file ('-' reads stdin). From a \
            directory, files of more than 64 bytes become references to objects named by their \
            fs-verity digest, which --digest-store fills. IMAGE '-' writes stdout. \
            Format 0 is the default; a tree with overlay whiteouts gets format 1 unless \
            --max-version=0. Giving either version option sets the other to 0 when not given, \
            as mkcomposefs does.
            """
    )

    @Flag(help: "SOURCE is a dumpfile, not a directory.")
    var fromFile = false

    @Option(help: "Copy regular files into this content-addressed store (directory sources).")
    var digestStore: String?

    @Option(help: "The format version to write (0 or 1).")
    var minVersion: UInt32?

    @Option(help: "The newest format version the tree may need (0 or 1).")
    var maxVersion: UInt32?

    @Flag(help: "Print the image's fs-verity digest.")
    var printDigest = false

    @Flag(help: "Print the image's fs-verity digest and write no image.")
    var printDigestOnly = false

    @Flag(help: "Keep only user.* xattrs (directory sources).")
    var userXattrs = false

    @Flag(help: "Keep no xattrs (directory sources).")
    var skipXattrs = false

    @Flag(help: "Leave out device nodes (directory sources).")
    var skipDevices = false

    @Flag(help: "Set every mtime to 0 (directory sources).")
    var useEpoch = false

    @Option(help: "Threads that hash and copy files (directory sources; default: the CPU count).")
    var threads: Int?

    @Argument(help: "A dumpfile with --from-file, else a directory.")
    var source: String

    @Argument(help: "The image to write; '-' for stdout. Not with --print-digest-only.")
    var image: String?

    func validate() throws {
        if printDigestOnly && image != nil { throw ValidationError("IMAGE cannot be given with --print-digest-only") }
        if !printDigestOnly && image == nil { throw ValidationError("give IMAGE (or --print-digest-only)") }
        if skipXattrs && userXattrs { throw ValidationError("--skip-xattrs and --user-xattrs exclude each other") }
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        let root: FileNode
        if fromFile {
            let text = source == "-" ? try File.readStandardInput() : try File.open(source, .readOnly).readAll()
            do {
                root = try Dumpfile.parse(text)
            } catch {
                throw CommandFailure("\(source): \(error)")
            }
        } else {
            var scan = DirectorySource.Options()
            scan.tree.xattrs = skipXattrs ? .none : userXattrs ? .userOnly : .all
            scan.tree.skipDevices = skipDevices
            scan.tree.useEpoch = useEpoch
            scan.threads = threads ?? System.coreCount
            let (tree, files) = try DirectorySource.scan(source, options: scan)
            if let digestStore { try files.fillStore(digestStore) }
            root = tree
        }
        var options = ComposefsImage.Options()
        if minVersion != nil || maxVersion != nil {
            (options.minimumVersion, options.maximumVersion) = (minVersion ?? 0, max(maxVersion ?? 0, minVersion ?? 0))
        }
        let bytes = try ComposefsImage.write(root, options: options)
        if let image {
            if image == "-" {
                try File.writeStandardOutput(bytes)
            } else {
                try AtomicFile.write(bytes, to: image)
            }
        }
        if printDigest || printDigestOnly {
            print(Hex.encode(FsVerity.digest(of: bytes, algorithm: .sha256)))
        }
    }
}

/// A failure whose message says everything; printed as is.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
