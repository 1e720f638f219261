@preconcurrency import Glibc
import SystemPackage
internal import CCairnLinux

extension File {
    /// Makes this (empty) file a copy of `source`: a reflink where the file system shares
    /// blocks, else a copy (see `copy(_:from:at:to:)`).
    public func copyContents(of source: File) throws {
        if cairn_clone_file(descriptor.rawValue, source.descriptor.rawValue) == 0 { return }
        try copy(try source.size(), from: source, at: 0, to: 0)
    }

    /// Copies `count` bytes of `source` from `sourceOffset` into this file at `offset`: by
    /// `copy_file_range` (the kernel copies, no user-space buffer; a reflink on file systems
    /// that share blocks), else by reads and writes. Throws if `source` ends early.
    public func copy(_ count: UInt64, from source: File, at sourceOffset: UInt64, to offset: UInt64) throws {
        var (input, output) = (off_t(sourceOffset), off_t(offset))
        var remaining = count
        while remaining > 0 {
            let copied = cairn_copy_file_range(source.descriptor.rawValue, &input, descriptor.rawValue, &output, Int(min(remaining, 1 << 30)))
            if copied > 0 {
                remaining -= UInt64(copied)
            } else if copied < 0 && errno == EINTR {
                continue
            } else if copied == 0 || [EXDEV, ENOSYS, EOPNOTSUPP, EINVAL, EPERM, EBADF].contains(errno) {
                // The kernel cannot (some file systems say 0 instead of an error): copy by hand.
                break
            } else {
                throw SystemError("copy \(source.path) into", path, Errno(rawValue: errno))
            }
        }
        var buffer = [UInt8](repeating: 0, count: Int(min(remaining, 1 << 20)))
        while remaining > 0 {
            let want = Int(min(remaining, UInt64(buffer.count)))
            let got = try buffer.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<want]), at: UInt64(input)) }
            guard got > 0 else { break }
            try buffer.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[..<got]), at: UInt64(output)) }
            (input, output, remaining) = (input + off_t(got), output + off_t(got), remaining - UInt64(got))
        }
        guard remaining == 0 else {
            // The source ended early (it shrank while being copied).
            throw SystemError("copy all of", source.path, Errno(rawValue: ENODATA))
        }
    }

    /// Turns on fs-verity (4 KiB blocks, no salt); false where the file system cannot.
    @discardableResult
    public func enableVerity(algorithm: UInt32) -> Bool { verityFailure(algorithm: algorithm) == nil }

    /// Turns on fs-verity; nil on success, else why not (EOPNOTSUPP or ENOTTY: the file system
    /// has no fs-verity; ETXTBSY: the file is open for writing).
    public func verityFailure(algorithm: UInt32) -> Errno? {
        cairn_enable_verity(descriptor.rawValue, algorithm) == 0 ? nil : Errno(rawValue: errno)
    }

    /// A new file in `directory` with no name (O_TMPFILE): it vanishes if never linked. Nil
    /// where the file system cannot make one.
    public static func unnamed(in directory: String, permissions: FilePermissions) throws -> File? {
        let fd = cairn_open_unnamed(directory, permissions.rawValue)
        guard fd >= 0 else {
            if [EOPNOTSUPP, EISDIR, EINVAL].contains(errno) { return nil }
            throw SystemError("create a file in", directory, Errno(rawValue: errno))
        }
        return File(path: directory + "/(unnamed)", descriptor: FileDescriptor(rawValue: fd))
    }

    /// Names an unnamed file `path`; false if something has that name already.
    public func link(as path: String) throws -> Bool {
        if cairn_link_unnamed(descriptor.rawValue, path) == 0 { return true }
        guard errno == EEXIST else { throw SystemError("name a new file", path, Errno(rawValue: errno)) }
        return false
    }

    /// A second, read-only descriptor of this same file (through /proc/self/fd, so it works for
    /// an unnamed file too).
    public func reopenedReadOnly() throws -> File {
        let fd = cairn_reopen_read_only(descriptor.rawValue)
        guard fd >= 0 else { throw SystemError("reopen", path, Errno(rawValue: errno)) }
        return File(path: path, descriptor: FileDescriptor(rawValue: fd))
    }

    /// The fs-verity digest the kernel keeps for this file (up to `digestSize` bytes), or nil when
    /// verity is not enabled on it or the file system has none.
    public func measureVerity(digestSize: Int) -> [UInt8]? {
        var digest = [UInt8](repeating: 0, count: digestSize)
        let got = Int(cairn_measure_verity(descriptor.rawValue, &digest, UInt16(digestSize)))
        return got > 0 ? Array(digest.prefix(got)) : nil
    }
}
