import CairnComposefs
import Testing

@Suite struct SplitStreamTests {
    static func sample() -> SplitStream {
        var stream = SplitStream(algorithm: .sha512, contentType: SplitStream.contentType("ocilayer"))
        stream.append(inline: Array("tar header".utf8))
        stream.append(inline: Array(" more".utf8))
        stream.append(object: [UInt8](repeating: 0xAB, count: 64), size: 1000)
        stream.append(inline: [0, 0, 0])
        stream.append(object: [UInt8](repeating: 0xAB, count: 64), size: 1000)
        stream.append(object: [UInt8](repeating: 0xCD, count: 64), size: 70)
        stream.addNamedRef(Array("sha256:layer".utf8), digest: [UInt8](repeating: 1, count: 64))
        stream.addNamedRef(Array("composefs.image.v1".utf8), digest: [UInt8](repeating: 2, count: 64))
        stream.addNamedRef(Array("config:sha256:abc".utf8), digest: [UInt8](repeating: 1, count: 64))
        return stream
    }

    @Test func roundTrip() throws {
        let stream = Self.sample()
        #expect(stream.chunks == [.inline(Array("tar header more".utf8)), .external(index: 0), .inline([0, 0, 0]), .external(index: 0), .external(index: 1)])
        #expect(stream.objectRefs.count == 2 && stream.streamRefs.count == 2 && stream.streamSize == 15 + 1000 + 3 + 1000 + 70)
        #expect(stream.namedRefs.map { String(decoding: $0.name, as: UTF8.self) } == ["composefs.image.v1", "config:sha256:abc", "sha256:layer"])
        let bytes = stream.encoded()
        #expect(Array(bytes[0..<11]) == Array("SplitStream".utf8) && bytes[14] == 2 && bytes[15] == 12)
        #expect(try SplitStream(decoding: bytes) == stream)
        let empty = SplitStream(algorithm: .sha256, contentType: SplitStream.contentType("ociconfg"))
        #expect(try SplitStream(decoding: empty.encoded()) == empty)
    }

    /// bootc ≤ 1.15 wrote the header with its fields reordered: info, flags, magic, version,
    /// algorithm, block size.
    @Test func oldHeaderLayout() throws {
        var bytes = Self.sample().encoded()
        let header = Array(bytes[0..<32])
        let old = Array(header[16..<32]) + Array(header[12..<14]) + Array(header[0..<11]) + [header[11], header[14], header[15]]
        bytes.replaceSubrange(0..<32, with: old)
        #expect(try SplitStream(decoding: bytes) == Self.sample())
    }

    @Test func damageIsAnErrorNeverACrash() {
        let bytes = Self.sample().encoded()
        for length in 0..<bytes.count {
            _ = try? SplitStream(decoding: Array(bytes[..<length]))
        }
        var random = SplitMix(seed: 7)
        var errors = 0
        for _ in 0..<3000 {
            var damaged = bytes
            damaged[Int(random.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: random.next())
            if (try? SplitStream(decoding: damaged)) == nil { errors += 1 }
        }
        #expect(errors > 500)
        #expect(throws: SplitStreamError.self) { try SplitStream(decoding: Array("NotASplitStream and then some more bytes".utf8)) }
    }
}
