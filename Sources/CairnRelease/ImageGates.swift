import CairnErofs
import Glibc

/// The gates that read the image itself (an EROFS image, usually straight out of the chunk
/// store through `ChunkedImage`): content rules and kernel modules. Only the directories a rule
/// names and the modules it checks are read.
public struct ImageGates {
    let image: ErofsImage
    static let modulesDirectory = "/usr/lib/modules"

    public init(_ image: ErofsImage) { self.image = image }

    /// The `content` gate: every required pattern matches something, no forbidden one does,
    /// and the same below every kernel directory.
    public func content(required: [String], forbidden: [String], perKernelRequired: [String], perKernelForbidden: [String]) throws -> GateResult {
        var details = [String]()
        let root = (path: "", inode: try image.root())
        for pattern in required where try matches(pattern, under: root).isEmpty { details.append("required \(pattern) is missing") }
        for pattern in forbidden {
            for found in try matches(pattern, under: root) { details.append("forbidden \(found.path) is present (\(pattern))") }
        }
        if !perKernelRequired.isEmpty || !perKernelForbidden.isEmpty {
            let kernels = try kernelDirectories()
            if kernels.isEmpty { details.append("the image has no kernel directory \(Self.modulesDirectory)/<release>/") }
            for kernel in kernels {
                for pattern in perKernelRequired where try matches(pattern, under: kernel).isEmpty {
                    details.append("kernel \(kernel.release): required \(kernel.path)/\(pattern) is missing")
                }
                for pattern in perKernelForbidden {
                    for found in try matches(pattern, under: kernel) { details.append("kernel \(kernel.release): forbidden \(found.path) is present") }
                }
            }
        }
        return GateResult(gate: "content", passed: details.isEmpty, details: details)
    }

    /// The `kernel-modules` gate: below every kernel directory each required pattern matches a
    /// module, and every module matched was built for that kernel (its `vermagic`).
    public func kernelModules(required: [String]) throws -> GateResult {
        var details = [String]()
        let kernels = try kernelDirectories()
        if kernels.isEmpty { details.append("the image has no kernel directory \(Self.modulesDirectory)/<release>/") }
        var checked = [String]()
        for kernel in kernels {
            for pattern in required {
                let found = try matches(pattern, under: kernel).filter { $0.inode.fileType == .regular }
                if found.isEmpty { details.append("kernel \(kernel.release) has no module \(kernel.path)/\(pattern)") }
                for module in found {
                    let bytes = try image.read(module.inode, count: Int(module.inode.size))
                    let info = try ModuleInfo(module: bytes, name: module.path)
                    guard let release = info.kernelRelease else {
                        details.append("\(module.path) has no vermagic in its .modinfo")
                        continue
                    }
                    if release != kernel.release {
                        details.append("\(module.path) was built for kernel \(release) (vermagic \"\(info.vermagic ?? "")\"), not \(kernel.release)")
                    } else {
                        checked.append(module.path)
                    }
                }
            }
        }
        return GateResult(gate: "kernel-modules", passed: details.isEmpty, details: details.isEmpty ? checked.map { "\($0): built for its kernel" } : details)
    }

    /// `/usr/lib/modules/<release>/` directories.
    func kernelDirectories() throws -> [(path: String, inode: ErofsImage.Inode, release: String)] {
        guard let modules = try image.lookup(Array(Self.modulesDirectory.utf8)), modules.fileType == .directory else { return [] }
        return try image.entries(of: modules).compactMap { entry in
            let name = String(decoding: entry.name, as: UTF8.self)
            guard name != ".", name != ".." else { return nil }
            let inode = try image.inode(entry.nid)
            return inode.fileType == .directory ? (Self.modulesDirectory + "/" + name, inode, name) : nil
        }.sorted { $0.release < $1.release }
    }

    /// The paths below `base` that `pattern` (relative, or absolute for the root; each
    /// component a glob: `*`, `?`, `[…]`) matches. Symlinks are not followed.
    func matches(_ pattern: String, under base: (path: String, inode: ErofsImage.Inode, release: String)) throws -> [(path: String, inode: ErofsImage.Inode)] {
        try matches(pattern, under: (base.path, base.inode))
    }

    func matches(_ pattern: String, under base: (path: String, inode: ErofsImage.Inode)) throws -> [(path: String, inode: ErofsImage.Inode)] {
        var frontier = [base]
        for component in pattern.split(separator: "/").map(String.init) {
            var next = [(path: String, inode: ErofsImage.Inode)]()
            for directory in frontier where directory.inode.fileType == .directory {
                for entry in try image.entries(of: directory.inode) {
                    let name = String(decoding: entry.name, as: UTF8.self)
                    guard name != ".", name != "..", fnmatch(component, name, 0) == 0 else { continue }
                    next.append((directory.path + "/" + name, try image.inode(entry.nid)))
                }
            }
            frontier = next
        }
        return frontier
    }
}
