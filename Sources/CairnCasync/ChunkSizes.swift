/// The minimum, average and maximum chunk sizes, with casync's rules for parsing, validating and
/// deriving the boundary discriminator (casync.md §1.4, §1.5).
public struct ChunkSizes: Hashable, Sendable, CustomStringConvertible {
    /// casync's `CA_CHUNK_SIZE_LIMIT_MAX`: no size may exceed 128 MiB.
    public static let limit = 128 << 20
    public static let `default` = ChunkSizes(uncheckedMin: 16384, avg: 65536, max: 262144)

    public let min: Int
    public let avg: Int
    public let max: Int

    init(uncheckedMin min: Int, avg: Int, max: Int) {
        (self.min, self.avg, self.max) = (min, avg, max)
    }

    /// Validates a triplet with the rules casync applies to `--chunk-size=MIN:AVG:MAX`.
    public init(min: Int, avg: Int, max: Int) throws(ChunkSizeError) {
        guard (1...Self.limit).contains(avg) else { throw ChunkSizeError("average chunk size must be between 1 and \(Self.limit), not \(avg)") }
        guard min >= 1 else { throw ChunkSizeError("minimum chunk size must be at least 1, not \(min)") }
        guard avg >= min else { throw ChunkSizeError("average chunk size \(avg) must not be smaller than the minimum \(min)") }
        guard max >= avg else { throw ChunkSizeError("maximum chunk size \(max) must not be smaller than the average \(avg)") }
        guard max <= Self.limit else { throw ChunkSizeError("maximum chunk size must be at most \(Self.limit), not \(max)") }
        self.init(uncheckedMin: min, avg: avg, max: max)
        // casync cannot test a boundary before 48 bytes and fails on such settings (casync.md §1.5).
        guard isFixed || max >= Chunker.windowSize else {
            throw ChunkSizeError("maximum chunk size must be at least \(Chunker.windowSize) unless min = avg = max, not \(max)")
        }
    }

    /// casync's single-AVG form: min = avg/4 (at least 1), max = 4·avg (at most 128 MiB).
    public init(average avg: Int) throws(ChunkSizeError) {
        guard (1...Self.limit).contains(avg) else { throw ChunkSizeError("average chunk size must be between 1 and \(Self.limit), not \(avg)") }
        try self.init(min: Swift.max(avg / 4, 1), avg: avg, max: Swift.min(avg * 4, Self.limit))
    }

    /// Parses `AVG` or `MIN:AVG:MAX`, each with an optional K, M or G suffix (base 1024).
    public init(parsing text: String) throws(ChunkSizeError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let values = try parts.map { part throws(ChunkSizeError) in try Self.parseSize(part) }
        switch values.count {
        case 1: try self.init(average: values[0])
        case 3: try self.init(min: values[0], avg: values[1], max: values[2])
        default: throw ChunkSizeError("chunk size must be AVG or MIN:AVG:MAX, not \"\(text)\"")
        }
    }

    private static func parseSize(_ text: Substring) throws(ChunkSizeError) -> Int {
        var digits = text
        var factor = 1
        if let last = digits.last, let shift = ["K": 10, "M": 20, "G": 30][String(last).uppercased()] {
            factor = 1 << shift
            digits = digits.dropLast()
        }
        guard let value = Int(digits), value >= 0, value <= Int(Int32.max) else {
            throw ChunkSizeError("\"\(text)\" is not a chunk size")
        }
        return value * factor
    }

    /// min = avg = max: casync cuts fixed-size chunks without hashing.
    public var isFixed: Bool { min == avg && avg == max }

    /// casync's discriminator: `avg / (-1.42888852e-7·avg + 1.33237515)` in double, truncated,
    /// then clamped to [min, max] as `ca_chunker_set_size` does.
    public var discriminator: UInt32 {
        let a = Double(avg)
        let raw = a / (a * -1.42888852e-7 + 1.33237515)
        // Beyond avg ≈ 9.3M the divisor turns negative; x86-64 casync ends up clamping to max.
        let d = raw > 0 ? Int(raw) : max
        return UInt32(Swift.min(Swift.max(d, min), max))
    }

    public var description: String { "\(min):\(avg):\(max)" }
}

public struct ChunkSizeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
