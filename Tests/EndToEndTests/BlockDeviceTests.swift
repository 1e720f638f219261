import Foundation
import Testing

/// make reads from and extract writes to block devices (a loop device over a scratch file).
@Suite struct BlockDeviceTests {
    /// Attaches `file` as a loop device and detaches it when done.
    static func withLoopDevice(_ file: String, _ body: (String) throws -> Void) throws {
        let attach = try run("/usr/sbin/losetup", ["--find", "--show", file])
        #expect(attach.succeeded, "losetup: \(attach.stderr)")
        let device = attach.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run("/usr/sbin/losetup", ["--detach", device]) }
        try body(device)
    }

    @Test func makeFromAndExtractOntoABlockDevice() throws {
        let scratch = try Scratch()
        let input = imageLikeBytes(4 << 20, seed: 41)
        try scratch.write("input", input)
        #expect(try cairn("make", "--store", scratch.file("store"), scratch.file("file.caibx"), scratch.file("input")).succeeded)
        try scratch.write("disk", [UInt8](repeating: 0xaa, count: 6 << 20))
        try Self.withLoopDevice(scratch.file("disk")) { device in
            let extracted = try cairn("extract", "--store", scratch.file("store"), scratch.file("file.caibx"), device)
            #expect(extracted.succeeded, "\(extracted.stderr)")
            let made = try cairn("make", "--index-only", scratch.file("device.caibx"), device)
            #expect(made.succeeded, "\(made.stderr)")
        }
        let disk = try scratch.read("disk")
        #expect(Array(disk.prefix(input.count)) == input)
        #expect(disk[input.count...].allSatisfy { $0 == 0xaa }, "bytes past the blob were touched")
        // The device is 6 MiB: its index covers the blob and the 0xaa tail.
        let whole = try cairn("chunk", scratch.file("disk")).stdout
        #expect(try cairn("list-chunks", scratch.file("device.caibx")).stdout == whole.split(separator: "\n").map { $0.split(separator: " ")[2] + "\n" }.joined())
    }

    @Test func aTooSmallDeviceIsRefused() throws {
        let scratch = try Scratch()
        try scratch.write("input", randomBytes(3 << 20, seed: 42))
        #expect(try cairn("make", "--store", scratch.file("store"), scratch.file("x.caibx"), scratch.file("input")).succeeded)
        try scratch.write("disk", [UInt8](repeating: 0, count: 1 << 20))
        try Self.withLoopDevice(scratch.file("disk")) { device in
            let result = try cairn("extract", "--store", scratch.file("store"), scratch.file("x.caibx"), device)
            #expect(!result.succeeded && result.stderr.contains("less than the blob"), "\(result.stderr)")
        }
    }
}
