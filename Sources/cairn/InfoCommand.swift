import ArgumentParser
import CairnBlob
import CairnCasync

struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show an index's chunk counts and sizes, what a store lacks, and what another index shares."
    )

    @Option(help: "Count the chunks this store lacks.")
    var store: String?

    @Option(help: "Count the chunks and bytes shared with this index.")
    var against: String?

    @Flag(help: "Print as JSON.")
    var json = false

    @Argument(help: "The index (.caibx).")
    var index: String

    func run() async throws {
        let blobIndex = try IndexFile.read(index)
        var info = IndexInfo(index: blobIndex)
        if let store { try await info.compare(with: try openReadableStore(store), index: blobIndex) }
        if let against { info.compare(with: try IndexFile.read(against), index: blobIndex) }
        if json {
            try printJSON(info)
            return
        }
        print("index:         \(index)")
        print("digest:        \(info.digest) (flags \(info.featureFlags))")
        print("chunk sizes:   \(info.chunkSizeMin):\(info.chunkSizeAvg):\(info.chunkSizeMax)")
        print("blob size:     \(info.blobSize) (\(ByteCount.format(info.blobSize)))")
        print("chunks:        \(info.chunks), \(info.uniqueChunks) unique")
        print("unique bytes:  \(info.uniqueBytes) (\(ByteCount.format(info.uniqueBytes)))")
        print("chunk length:  smallest \(info.smallestChunk), mean \(info.meanChunk), largest \(info.largestChunk)")
        if let missing = info.missingChunks {
            print("missing:       \(missing) of \(info.uniqueChunks) unique chunks not in \(store!)")
        }
        if let stored = info.storedBytes {
            print("stored:        \(stored) bytes (\(ByteCount.format(stored))) in the store for this index")
        }
        if let shared = info.sharedChunks, let bytes = info.sharedBytes {
            let percent = info.blobSize == 0 ? 0 : Double(bytes) * 100 / Double(info.blobSize)
            print("shared:        \(shared) unique chunks, \(bytes) bytes (\((percent * 10).rounded() / 10)% of the blob) with \(against!)")
        }
    }
}
