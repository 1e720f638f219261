/// A deployment that cannot be made, read or removed; the message names it and what failed.
public struct DeployError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
