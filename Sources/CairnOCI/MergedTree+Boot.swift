import CairnComposefs
import CairnErofs
import CairnIO
import SystemPackage

extension MergedTree {
    /// `transform_for_boot` (reference/composefs.md §3.6), after `transformForOCI`: `/boot` and
    /// `/sysroot` (both must exist) are emptied and take `/usr`'s mtime, then every inode is
    /// labelled from the SELinux policy the image carries in `/etc/selinux`, or loses its label
    /// when there is none. File contents are read from `repository`.
    public func transformForBoot(reading repository: Repository) throws {
        guard case .directory(let usr)? = root.entries[Array("usr".utf8)] else {
            throw OCIError("the image has no /usr directory, so it cannot be made bootable")
        }
        for name in ["boot", "sysroot"] {
            guard case .directory(let directory)? = root.entries[Array(name.utf8)] else {
                throw OCIError("the image has no /\(name) directory, which a bootable composefs image must have (it is emptied)")
            }
            directory.stat.mtime.seconds = usr.stat.mtime.seconds  // composefs-rs copies the seconds only
            directory.entries.removeAll()
        }
        if let policy = try selinuxPolicy(reading: repository) {
            var labelled = [Int: [UInt8]?]()
            try relabel(root, path: [UInt8(ascii: "/")], candidates: policy.allSpecs, policy: policy, labelled: &labelled)
        } else {
            forEachStat { $0.xattrs.removeAll { $0.name == Self.selinuxLabel } }
        }
    }

    /// The policy `/etc/selinux/config` names; nil when the image has no `/etc/selinux`, no
    /// config there, or no `SELINUXTYPE` in it.
    private func selinuxPolicy(reading repository: Repository) throws -> SELinuxPolicy? {
        guard let selinux = try directory(at: ["etc", "selinux"]),
              let config = try file(named: "config", in: selinux, path: "/etc/selinux", reading: repository),
              let name = SELinuxPolicy.policyName(config: config) else { return nil }
        let path = "/etc/selinux/\(name)/contexts/files"
        guard let files = try directory(at: ["etc", "selinux", name, "contexts", "files"]) else {
            throw OCIError("/etc/selinux/config names the SELinux policy \(name), but the image has no \(path)")
        }
        func read(_ suffixes: [String]) throws -> [(name: String, bytes: [UInt8])] {
            try suffixes.compactMap { suffix in
                try file(named: "file_contexts" + suffix, in: files, path: path, reading: repository).map { ("\(path)/file_contexts\(suffix)", $0) }
            }
        }
        let specFiles = try read(["", ".local", ".homedirs"])
        guard specFiles.first?.name == "\(path)/file_contexts" else { throw OCIError("the image's SELinux policy has no \(path)/file_contexts") }
        return try SELinuxPolicy(specFiles: specFiles, subsFiles: try read([".subs", ".subs_dist"]))
    }

    /// The directory at `components` from the root; nil if a component is missing.
    private func directory(at components: [String]) throws -> Directory? {
        var current = root
        for (index, component) in components.enumerated() {
            switch current.entries[Array(component.utf8)] {
            case .directory(let next)?: current = next
            case .leaf?:
                throw OCIError("the image's /\(components[...index].joined(separator: "/")) is not a directory (looking for /\(components.joined(separator: "/")))")
            case nil: return nil
            }
        }
        return current
    }

    /// The content of the regular file `name` in `directory` (at most 64 MiB); nil if missing.
    private func file(named name: String, in directory: Directory, path: String, reading repository: Repository) throws -> [UInt8]? {
        guard let inode = directory.entries[Array(name.utf8)] else { return nil }
        guard case .leaf(let id) = inode else { throw OCIError("the image's \(path)/\(name) is not a file") }
        switch leaves[id].content {
        case .inline(let bytes): return bytes
        case .object(let digest, let size):
            guard size <= 64 << 20 else { throw OCIError("the image's \(path)/\(name) is \(size) bytes, too large for an SELinux file") }
            let bytes = try File.open(repository.objectPath(digest), .readOnly).readAll()
            guard bytes.count == size else { throw OCIError("the object of \(path)/\(name) is \(bytes.count) bytes, not \(size)") }
            return bytes
        default: throw OCIError("the image's \(path)/\(name) is not a regular file")
        }
    }

    /// `relabel_dir`: children in byte order, depth first. A leaf reached by paths that want
    /// different labels is split: the first path keeps it, each other one gets a copy.
    /// `candidates` are the specs that may match `path` or anything below it.
    private func relabel(_ directory: Directory, path: [UInt8], candidates: [Int], policy: SELinuxPolicy, labelled: inout [Int: [UInt8]?]) throws {
        Self.setLabel(&directory.stat, try policy.label(path, type: UInt8(ascii: "d"), candidates: candidates))
        let below = try policy.candidates(below: path, among: candidates)
        let prefix = path == [UInt8(ascii: "/")] ? path : path + [UInt8(ascii: "/")]
        for name in directory.entries.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let childPath = prefix + name
            // An alias may move the path under another parent, out of reach of `below`.
            let (effective, childCandidates) = policy.aliases[childPath].map { ($0, policy.allSpecs) } ?? (childPath, below)
            switch directory.entries[name]! {
            case .directory(let child):
                try relabel(child, path: effective, candidates: childCandidates, policy: policy, labelled: &labelled)
            case .leaf(var id):
                let label = try policy.label(effective, type: SELinuxPolicy.typeCharacter(leaves[id].content.fileType), candidates: childCandidates)
                if let previous = labelled[id], previous != label {
                    leaves.append(leaves[id])
                    id = leaves.count - 1
                    directory.entries[name] = .leaf(id)
                }
                Self.setLabel(&leaves[id].stat, label)
                if labelled[id] == nil { labelled[id] = .some(label) }
            }
        }
    }

    static let selinuxLabel = Array("security.selinux".utf8)

    private static func setLabel(_ stat: inout Stat, _ label: [UInt8]?) {
        stat.xattrs.removeAll { $0.name == selinuxLabel }
        if let label { stat.xattrs.append(FileNode.Xattr(name: selinuxLabel, value: label)) }
    }
}
