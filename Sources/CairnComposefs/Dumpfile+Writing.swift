import CairnCasync
import CairnErofs

extension Dumpfile {
    /// The dumpfile of a tree, depth first in name order, as `composefs-info dump` prints it.
    public static func write(_ root: FileNode) -> [UInt8] {
        var out = [UInt8]()
        write(root, path: [], into: &out)
        return out
    }

    private static func write(_ node: FileNode, path: [UInt8], into out: inout [UInt8]) {
        let target = node.linkTarget.flatMap(\.resolved) ?? node
        escape(path.isEmpty ? Array("/".utf8) : path, into: &out)
        var fixed = " \(target.size) \(node.linkTarget != nil ? "@" : "")\(String(target.mode, radix: 8)) \(target.nlink)"
        fixed += " \(target.uid) \(target.gid) \(target.rdev) \(target.mtime.seconds).\(target.mtime.nanoseconds) "
        out += Array(fixed.utf8)
        let payload = node.linkTarget != nil ? pathBytes(of: target) : target.payload
        escapeOptional(payload, into: &out)
        out.append(UInt8(ascii: " "))
        escapeOptional(target.content, into: &out)
        out.append(UInt8(ascii: " "))
        out += target.digest.map { Array(Hex.encode($0).utf8) } ?? [UInt8(ascii: "-")]
        for xattr in target.xattrs {
            out.append(UInt8(ascii: " "))
            escape(xattr.name, equals: true, into: &out)
            out.append(UInt8(ascii: "="))
            escape(xattr.value, equals: true, into: &out)
        }
        out.append(UInt8(ascii: "\n"))
        for child in node.children {
            write(child, path: path + [UInt8(ascii: "/")] + child.name, into: &out)
        }
    }

    static func pathBytes(of node: FileNode) -> [UInt8] {
        var parts = [[UInt8]]()
        var current: FileNode? = node
        while let step = current, step.parent != nil {
            parts.append(step.name)
            current = step.parent
        }
        return parts.reversed().flatMap { [UInt8(ascii: "/")] + $0 }
    }

    /// `-` for an absent field, and `\x2d` for a field whose value is `-`.
    private static func escapeOptional(_ bytes: [UInt8]?, into out: inout [UInt8]) {
        guard let bytes else { return out.append(UInt8(ascii: "-")) }
        if bytes == [UInt8(ascii: "-")] { return out += Array("\\x2d".utf8) }
        escape(bytes, into: &out)
    }

    /// Named escapes for `\`, newline, CR and tab, `\xHH` for every other byte outside
    /// 0x21…0x7E (and for `=` in xattrs).
    static func escape(_ bytes: [UInt8], equals: Bool = false, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case UInt8(ascii: "=") where equals, ..<0x21, 0x7F...:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
    }
}
