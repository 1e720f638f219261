@preconcurrency import Glibc
import SystemPackage
internal import CCairnLinux

extension File {
    /// Makes this (empty) file a copy of `source`: a reflink where the file system shares
    /// blocks, else `copy_file_range` (the kernel copies, no user-space buffer), else reads and
    /// writes.
    public func copyContents(of source: File) throws {
        if cairn_clone_file(descriptor.rawValue, source.descriptor.rawValue) == 0 { return }
        var remaining = try source.size()
        var kernelCopies = true
        while remaining > 0 && kernelCopies {
            let copied = cairn_copy_file_range(source.descriptor.rawValue, descriptor.rawValue, Int(min(remaining, 1 << 30)))
            if copied > 0 {
                remaining -= UInt64(copied)
            } else if copied < 0 && errno == EINTR {
                continue
            } else if copied == 0 || [EXDEV, ENOSYS, EOPNOTSUPP, EINVAL, EPERM, EBADF].contains(errno) {
                // Nothing copied this way (some file systems report 0): copy the rest by hand.
                kernelCopies = false
            } else {
                throw SystemError("copy to", path, Errno(rawValue: errno))
            }
        }
        guard remaining > 0 else { return }
        let total = try source.size()
        var offset = total - remaining
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while offset < total {
            let count = try buffer.withUnsafeMutableBytes { try source.read(into: $0, at: offset) }
            if count == 0 { break }
            try buffer.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[..<count]), at: offset) }
            offset += UInt64(count)
        }
    }

    /// Turns on fs-verity (4 KiB blocks, no salt); false where the file system cannot.
    @discardableResult
    public func enableVerity(algorithm: UInt32) -> Bool {
        cairn_enable_verity(descriptor.rawValue, algorithm) == 0
    }
}
