import CairnRelease
import Testing

/// `.modinfo` from ELF files of both classes and byte orders (modules for other architectures),
/// compressed or not; hostile headers are errors, never crashes.
struct ModuleInfoTests {
    /// A minimal relocatable ELF: sections null, .modinfo, .shstrtab.
    static func elf(is64: Bool, bigEndian: Bool, modinfo: [UInt8]) -> [UInt8] {
        func integer(_ value: Int, _ width: Int) -> [UInt8] {
            let little = (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
            return bigEndian ? little.reversed() : little
        }
        let names = Array("\0.modinfo\0.shstrtab\0".utf8)
        let headerSize = is64 ? 64 : 52, entrySize = is64 ? 64 : 40
        let modinfoOffset = headerSize, namesOffset = modinfoOffset + modinfo.count, tableOffset = namesOffset + names.count
        var bytes = [0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, bigEndian ? 2 : 1, 1] + [UInt8](repeating: 0, count: 9)
        bytes += integer(1, 2) + integer(62, 2) + integer(1, 4)  // e_type REL, e_machine, e_version
        bytes += is64 ? integer(0, 8) + integer(0, 8) + integer(tableOffset, 8) : integer(0, 4) + integer(0, 4) + integer(tableOffset, 4)
        bytes += integer(0, 4) + integer(headerSize, 2) + integer(0, 2) + integer(0, 2) + integer(entrySize, 2) + integer(3, 2) + integer(2, 2)
        precondition(bytes.count == headerSize)
        bytes += modinfo + names
        func section(name: Int, offset: Int, size: Int) -> [UInt8] {
            let fields = is64
                ? integer(name, 4) + integer(1, 4) + integer(0, 8) + integer(0, 8) + integer(offset, 8) + integer(size, 8) + integer(0, 4) + integer(0, 4) + integer(1, 8) + integer(0, 8)
                : integer(name, 4) + integer(1, 4) + integer(0, 4) + integer(0, 4) + integer(offset, 4) + integer(size, 4) + integer(0, 4) + integer(0, 4) + integer(1, 4) + integer(0, 4)
            return fields
        }
        bytes += [UInt8](repeating: 0, count: entrySize)
        bytes += section(name: 1, offset: modinfoOffset, size: modinfo.count)
        bytes += section(name: 10, offset: namesOffset, size: names.count)
        return bytes
    }

    static let modinfo = Array("license=GPL\0vermagic=6.8.0-31-generic SMP preempt mod_unload \0name=zfs\0".utf8)

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func readsEveryClassAndByteOrder(is64: Bool, bigEndian: Bool) throws {
        let info = try ModuleInfo(module: Self.elf(is64: is64, bigEndian: bigEndian, modinfo: Self.modinfo), name: "zfs.ko")
        #expect(info.kernelRelease == "6.8.0-31-generic")
        #expect(info.fields.map(\.key) == ["license", "vermagic", "name"])
    }

    @Test func hostileHeadersAreErrors() {
        let good = Self.elf(is64: true, bigEndian: false, modinfo: Self.modinfo)
        var cases = [Array(good.prefix(40)), Array(good.prefix(good.count - 100))]
        var farTable = good
        for i in 0x28..<0x30 { farTable[i] = 0xff }  // e_shoff = 2^64 - 1
        cases.append(farTable)
        var hugeSection = good
        let sizeField = good.count - 64 * 2 + 32  // .modinfo's sh_size
        for i in sizeField..<(sizeField + 8) { hugeSection[i] = 0x7f }
        cases.append(hugeSection)
        cases.append(Array("not an elf file at all, long enough to have a header of fifty-two bytes".utf8))
        for bytes in cases {
            #expect(throws: ReleaseError.self) { try ModuleInfo(module: bytes, name: "bad.ko") }
        }
    }
}
