import CairnCasync

/// The `.modinfo` section of a Linux kernel module (an ELF relocatable object, possibly
/// compressed with xz, zstd or gzip as `.ko.xz`, `.ko.zst`, `.ko.gz`): NUL-separated
/// `key=value` strings, among them `vermagic`, whose first word is the kernel release the module
/// was built for.
public struct ModuleInfo: Sendable {
    public var fields: [(key: String, value: String)]

    public var vermagic: String? { fields.first { $0.key == "vermagic" }?.value }
    /// The kernel release `vermagic` names.
    public var kernelRelease: String? { vermagic?.split(separator: " ").first.map(String.init) }

    /// Parses a module's bytes; compressed ones are recognised by their magic. `name` names the
    /// module in errors.
    public init(module bytes: [UInt8], name: String) throws(ReleaseError) {
        var elf = bytes
        if !bytes.starts(with: [0x7f, 0x45, 0x4c, 0x46]) {
            do { elf = try bytes.withUnsafeBytes { try ChunkDecompressor().decompress($0) } } catch {
                throw .malformed(key: name, problem: "neither an ELF file nor one compressed with xz, zstd or gzip (\(error))")
            }
        }
        let section = try Self.section(named: ".modinfo", in: elf, name: name)
        fields = section.split(separator: 0).compactMap { field in
            guard let equals = field.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            return (String(decoding: field[..<equals], as: UTF8.self), String(decoding: field[(equals + 1)...], as: UTF8.self))
        }
    }

    /// The bytes of section `wanted` of an ELF file (32 or 64 bits, either byte order).
    static func section(named wanted: String, in elf: [UInt8], name: String) throws(ReleaseError) -> ArraySlice<UInt8> {
        func bad(_ problem: String) -> ReleaseError { .malformed(key: name, problem: "not a valid ELF file: \(problem)") }
        guard elf.count >= 52, elf.starts(with: [0x7f, 0x45, 0x4c, 0x46]), [1, 2].contains(elf[4]), [1, 2].contains(elf[5]) else {
            throw bad("no ELF header")
        }
        let is64 = elf[4] == 2, bigEndian = elf[5] == 2
        func integer(_ offset: Int, _ width: Int) throws(ReleaseError) -> Int {
            guard offset >= 0, offset <= elf.count - width else { throw bad("a field at \(offset) lies past the end") }
            var value: UInt64 = 0
            for i in 0..<width {
                let byte = UInt64(elf[offset + (bigEndian ? i : width - 1 - i)])
                value = value << 8 | byte
            }
            guard value <= UInt64(Int.max) else { throw bad("a field at \(offset) is out of range") }
            return Int(value)
        }
        let (sectionTable, entrySize, count, namesIndex) = is64
            ? (try integer(0x28, 8), try integer(0x3a, 2), try integer(0x3c, 2), try integer(0x3e, 2))
            : (try integer(0x20, 4), try integer(0x2e, 2), try integer(0x30, 2), try integer(0x32, 2))
        // Every value below is checked against the file's size before it is used in arithmetic.
        guard entrySize >= (is64 ? 64 : 40), namesIndex < count, sectionTable <= elf.count else { throw bad("no section table") }
        func header(_ index: Int) throws(ReleaseError) -> (name: Int, offset: Int, size: Int) {
            let base = sectionTable + index * entrySize
            return is64
                ? (try integer(base, 4), try integer(base + 24, 8), try integer(base + 32, 8))
                : (try integer(base, 4), try integer(base + 16, 4), try integer(base + 20, 4))
        }
        func bytes(_ offset: Int, _ size: Int) throws(ReleaseError) -> ArraySlice<UInt8> {
            guard offset <= elf.count, size <= elf.count - offset else { throw bad("a section lies past the end") }
            return elf[offset..<(offset + size)]
        }
        let names = try header(namesIndex)
        let nameTable = try bytes(names.offset, names.size)
        for index in 0..<count {
            let section = try header(index)
            guard section.name < nameTable.count else { continue }
            let start = nameTable.startIndex + section.name
            let sectionName = nameTable[start...].prefix { $0 != 0 }
            if Array(sectionName) == Array(wanted.utf8) { return try bytes(section.offset, section.size) }
        }
        throw .malformed(key: name, problem: "has no \(wanted) section")
    }
}
