import CairnErofs

/// The composefs dumpfile (composefs-dump(5)): one line per file, eleven space-separated fields
/// (PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT DIGEST) and then `KEY=VALUE` xattrs,
/// with C-style escapes. Parsing follows C `mkcomposefs --from-file`, writing follows
/// `composefs-info dump`, so a tree survives the round trip byte for byte.
public enum Dumpfile {
    /// The tree a dumpfile describes. Parents come before their children; hard links (`@MODE`)
    /// may name any entry of the file.
    public static func parse(_ text: [UInt8]) throws(DumpfileError) -> FileNode {
        var root: FileNode?
        var links = [(node: FileNode, target: [UInt8], line: Int)]()
        var lineNumber = 0
        var start = 0
        while start < text.count {
            lineNumber += 1
            let end = text[start...].firstIndex(of: UInt8(ascii: "\n")) ?? text.count
            do {
                try parseLine(text[start..<end], number: lineNumber, root: &root, links: &links)
            } catch {
                throw DumpfileError(line: lineNumber, problem: error.problem)
            }
            start = end + 1
        }
        guard let root else { throw DumpfileError(line: lineNumber, problem: "no root directory (/)") }
        for (node, target, line) in links {
            guard let found = lookup(root, path: target) else {
                throw DumpfileError(line: line, problem: "the hard link target \(String(decoding: target, as: UTF8.self)) does not exist")
            }
            guard found !== node else { throw DumpfileError(line: line, problem: "a hard link to itself") }
            guard found.resolved != nil else { throw DumpfileError(line: line, problem: "a hard link loop") }
            node.linkTarget = found
        }
        return root
    }

    struct LineProblem: Error {
        let problem: String
        init(_ problem: String) { self.problem = problem }
    }

    private static func parseLine(
        _ line: ArraySlice<UInt8>, number: Int, root: inout FileNode?, links: inout [(node: FileNode, target: [UInt8], line: Int)]
    ) throws(LineProblem) {
        if line.contains(0) { throw LineProblem("embedded NUL byte") }
        var fields = line.split(separator: UInt8(ascii: " "), maxSplits: 11, omittingEmptySubsequences: false)
        // C splits the fixed fields one by one; missing ones are empty.
        while fields.count < 11 { fields.append([]) }
        let xattrFields = fields.count > 11 && !fields[11].isEmpty ? fields[11].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false) : []
        let path = try unescape(fields[0])
        guard !path.isEmpty else { throw LineProblem("empty path") }
        // PATH_MAX, which also bounds how deep the tree (and every walk of it) can go.
        guard path.count < 4096 else { throw LineProblem("a path of \(path.count) bytes (at most 4095)") }
        var modeField = fields[2]
        let isLink = modeField.first == UInt8(ascii: "@")
        if isLink { modeField = modeField.dropFirst() }
        let mode = try integer(modeField, radix: 8, "MODE")
        guard mode <= UInt64(UInt32.max), FileType(mode: UInt32(mode)) != .unknown else {
            throw LineProblem("invalid mode \(String(decoding: modeField, as: UTF8.self))")
        }
        let node = FileNode(mode: UInt32(mode))
        try place(node, at: path, root: &root)
        if isLink {
            guard !node.isDirectory else { throw LineProblem("directories cannot be hard links") }
            guard let target = try optional(fields[8]) else { throw LineProblem("a hard link without a target path") }
            links.append((node, target, number))
            return
        }
        let size = try integer(fields[1], radix: 10, "SIZE")
        node.nlink = UInt32(truncatingIfNeeded: try integer(fields[3], radix: 10, "NLINK"))
        node.uid = UInt32(truncatingIfNeeded: try integer(fields[4], radix: 10, "UID"))
        node.gid = UInt32(truncatingIfNeeded: try integer(fields[5], radix: 10, "GID"))
        let rdev = try integer(fields[6], radix: 10, "RDEV")
        let mtime = fields[7].split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        guard mtime.count == 2 else { throw LineProblem("invalid MTIME \(String(decoding: fields[7], as: UTF8.self))") }
        node.mtime = FileNode.Timestamp(
            seconds: Int64(bitPattern: try integer(mtime[0], radix: 10, "MTIME")),
            nanoseconds: UInt32(truncatingIfNeeded: try integer(mtime[1], radix: 10, "MTIME")))
        let payload = try optional(fields[8])
        let content = try optional(fields[9])
        if let content, content.count != size {
            throw LineProblem("CONTENT holds \(content.count) bytes but SIZE is \(size)")
        }
        if let digest = try optional(fields[10]) {
            guard let raw = hexBytes(digest), raw.count == 32 || raw.count == 64 else {
                throw LineProblem("DIGEST is not 64 or 128 hex digits")
            }
            node.digest = raw
        }
        if node.fileType == .characterDevice || node.fileType == .blockDevice { node.rdev = rdev }
        if node.fileType == .symlink {
            guard let payload, !payload.isEmpty else { throw LineProblem("a symlink without a target") }
            guard payload.count < 4096 else { throw LineProblem("a symlink target of \(payload.count) bytes (at most 4095)") }
            node.payload = payload
            node.size = UInt64(payload.count)
        } else {
            node.size = size
            if let payload {
                guard payload.count < 4096 else { throw LineProblem("a PAYLOAD of \(payload.count) bytes (at most 4095)") }
                node.payload = payload
            }
            if let content, !content.isEmpty {
                guard content.count <= ComposefsImage.dumpfileContentLimit else {
                    throw LineProblem("inline CONTENT of \(content.count) bytes exceeds \(ComposefsImage.dumpfileContentLimit)")
                }
                node.content = content
            }
        }
        for field in xattrFields {
            guard let equals = field.firstIndex(of: UInt8(ascii: "=")) else { throw LineProblem("an xattr without '='") }
            let name = try unescape(field[..<equals])
            let value = try unescape(field[(equals + 1)...])
            guard !name.isEmpty, name.count <= 255, !name.contains(0) else { throw LineProblem("an xattr name that is empty, longer than 255 bytes or holds NUL") }
            guard value.count <= 0xFFFF else { throw LineProblem("an xattr value longer than 65535 bytes") }
            node.setXattr(name, value)
        }
    }

    private static func place(_ node: FileNode, at path: [UInt8], root: inout FileNode?) throws(LineProblem) {
        let parts = path.split(separator: UInt8(ascii: "/")).map(Array.init)
        guard let name = parts.last else {
            guard node.isDirectory else { throw LineProblem("the root must be a directory") }
            guard root == nil else { throw LineProblem("a second root") }
            root = node
            return
        }
        guard let root else { throw LineProblem("\(String(decoding: path, as: UTF8.self)) comes before the root") }
        var parent = root
        for part in parts.dropLast() {
            guard let next = parent.child(named: part) else {
                throw LineProblem("the parent directory of \(String(decoding: path, as: UTF8.self)) is missing")
            }
            parent = next
        }
        guard parent.isDirectory else { throw LineProblem("the parent of \(String(decoding: path, as: UTF8.self)) is no directory") }
        guard name != Array(".".utf8), name != Array("..".utf8) else { throw LineProblem("'.' or '..' in \(String(decoding: path, as: UTF8.self))") }
        do {
            try parent.add(node, named: name)
        } catch {
            throw LineProblem(error.description)
        }
    }

    static func lookup(_ root: FileNode, path: [UInt8]) -> FileNode? {
        var node = root
        for part in path.split(separator: UInt8(ascii: "/")) {
            guard let next = node.child(named: Array(part)) else { return nil }
            node = next
        }
        return node
    }

    private static func integer(_ field: ArraySlice<UInt8>, radix: Int, _ name: String) throws(LineProblem) -> UInt64 {
        guard !field.isEmpty, let value = UInt64(String(decoding: field, as: UTF8.self), radix: radix) else {
            throw LineProblem("invalid \(name) \"\(String(decoding: field, as: UTF8.self))\"")
        }
        return value
    }

    /// `-` is an absent field.
    private static func optional(_ field: ArraySlice<UInt8>) throws(LineProblem) -> [UInt8]? {
        field.elementsEqual([UInt8(ascii: "-")]) ? nil : try unescape(field)
    }

    static func unescape(_ field: ArraySlice<UInt8>) throws(LineProblem) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(field.count)
        var index = field.startIndex
        while index < field.endIndex {
            let byte = field[index]
            index += 1
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            guard index < field.endIndex else { throw LineProblem("nothing after '\\'") }
            let kind = field[index]
            index += 1
            switch kind {
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "r"): out.append(UInt8(ascii: "\r"))
            case UInt8(ascii: "t"): out.append(UInt8(ascii: "\t"))
            case UInt8(ascii: "x"):
                guard index + 2 <= field.endIndex, let high = hexValue(field[index]), let low = hexValue(field[index + 1])
                else { throw LineProblem("'\\x' needs two hex digits") }
                out.append(high << 4 | low)
                index += 2
            default:
                throw LineProblem("unknown escape '\\\(Character(UnicodeScalar(kind)))'")
            }
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func hexBytes(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(text.count / 2)
        var index = 0
        while index < text.count {
            guard let high = hexValue(text[index]), let low = hexValue(text[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

public struct DumpfileError: Error, CustomStringConvertible {
    public let line: Int
    public let problem: String
    public var description: String { "dumpfile line \(line): \(problem)" }
}
