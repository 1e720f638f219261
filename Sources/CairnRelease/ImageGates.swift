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
            let (kernels, problems) = try kernelDirectories()
            details += problems
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
        var (kernels, details) = try kernelDirectories()
        if kernels.isEmpty { details.append("the image has no kernel directory \(Self.modulesDirectory)/<release>/") }
        var checked = [String]()
        for kernel in kernels {
            for pattern in required {
                let found = try matches(pattern, under: kernel)
                if found.isEmpty { details.append("kernel \(kernel.release) has no module \(kernel.path)/\(pattern)") }
                for module in found {
                    // A link could lead the kernel to a module this gate did not read.
                    guard module.inode.fileType == .regular else {
                        details.append("\(module.path) is not a regular file (a \(module.inode.fileType)); it cannot be checked")
                        continue
                    }
                    guard module.inode.size <= Self.largestModule else {
                        details.append("\(module.path) is \(module.inode.size) bytes, more than a module may be (\(Self.largestModule))")
                        continue
                    }
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

    static let largestModule: UInt64 = 256 << 20

    /// `/usr/lib/modules/<release>/` directories, and a problem for anything else there (a
    /// symlink to another kernel's directory, say): the gates cannot vouch for what it leads to.
    func kernelDirectories() throws -> (kernels: [(path: String, inode: ErofsImage.Inode, release: String)], problems: [String]) {
        guard let modules = try image.lookup(Array(Self.modulesDirectory.utf8)) else { return ([], []) }
        guard modules.fileType == .directory else { return ([], ["\(Self.modulesDirectory) is not a directory"]) }
        var kernels = [(path: String, inode: ErofsImage.Inode, release: String)](), problems = [String]()
        for entry in try image.entries(of: modules) {
            let name = String(decoding: entry.name, as: UTF8.self)
            guard name != ".", name != ".." else { continue }
            let inode = try image.inode(entry.nid)
            if inode.fileType == .directory {
                kernels.append((Self.modulesDirectory + "/" + name, inode, name))
            } else {
                problems.append("\(Self.modulesDirectory)/\(name) is not a directory (a \(inode.fileType)); its modules cannot be checked")
            }
        }
        return (kernels.sorted { $0.release < $1.release }, problems)
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
                    guard name != ".", name != ".." else { continue }
                    switch fnmatch(component, name, 0) {
                    case 0: break
                    case FNM_NOMATCH: continue
                    default: throw ReleaseError.invalidInput("the pattern \(pattern) cannot be matched")
                    }
                    next.append((directory.path + "/" + name, try image.inode(entry.nid)))
                }
            }
            frontier = next
        }
        return frontier
    }
}
