import SystemPackage

/// A failed system call on a named file: "cannot <operation> <path>: <reason>".
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let path: String
    public let errno: Errno

    public init(_ operation: String, _ path: String, _ errno: Errno) {
        (self.operation, self.path, self.errno) = (operation, path, errno)
    }

    public var description: String { "cannot \(operation) \(path): \(errno.description)" }
}

/// Runs `body` and turns a thrown `Errno` into a `SystemError` naming the file.
@inline(__always)
func attempt<T>(_ operation: String, _ path: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let errno as Errno {
        throw SystemError(operation, path, errno)
    } catch {
        throw SystemError(operation, path, .ioError)
    }
}
