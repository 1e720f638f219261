/// The identity of a chunk: the 32-byte digest (SHA-512/256 or SHA-256) of its uncompressed bytes.
///
/// Stored as four words so that hashing and comparing IDs in sets of millions stays cheap.
public struct ChunkID: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32

    @usableFromInline var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// Builds an ID from exactly 32 raw digest bytes.
    public init<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        precondition(bytes.count == Self.byteCount, "a chunk ID has 32 bytes")
        var words = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &words) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        (w0, w1, w2, w3) = words
    }

    /// Reads an ID from 32 raw bytes at `offset` in `raw`.
    public init(raw: UnsafeRawBufferPointer, offset: Int) {
        w0 = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        w1 = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
        w2 = raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self)
        w3 = raw.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self)
    }

    /// Parses 64 lowercase hex characters, the form used in chunk file names.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 64, let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// The 32 raw bytes, in digest order.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: (w0, w1, w2, w3)) { Array($0) }
    }

    /// 64 lowercase hex characters.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

}

/// Lowercase hex encoding (swift-crypto's digest `description` adds a prefix, so it cannot be used).
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        String(decoding: asciiDigits(bytes), as: UTF8.self)
    }

    /// The lowercase hex digits of `bytes`, as ASCII (object paths are built from these).
    public static func asciiDigits<Bytes: Sequence>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        bytes.withContiguousStorageIfAvailable { asciiDigits(UnsafeRawBufferPointer($0)) } ?? asciiDigits(Array(bytes))
    }

    public static func asciiDigits(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: bytes.count * 2) { out, initialized in
            for (i, b) in bytes.enumerated() {
                out[2 * i] = digits[Int(b >> 4)]
                out[2 * i + 1] = digits[Int(b & 0xf)]
            }
            initialized = bytes.count * 2
        }
    }

    /// Parses lowercase hex, the form of every digest in a file name; nil for anything else.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: utf8.count / 2)
        for i in bytes.indices {
            guard let high = nibble(utf8[2 * i]), let low = nibble(utf8[2 * i + 1]) else { return nil }
            bytes[i] = high << 4 | low
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
