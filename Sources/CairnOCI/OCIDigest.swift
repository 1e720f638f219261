import CairnCasync

/// An OCI content digest, `sha256:<64 hex>` (the only algorithm registries use in practice).
public struct OCIDigest: Hashable, Sendable, CustomStringConvertible, Codable {
    public let hex: String

    public init?(_ text: some StringProtocol) {
        guard text.hasPrefix("sha256:") else { return nil }
        let hex = String(text.dropFirst(7))
        guard hex.utf8.count == 64, Hex.decode(hex) != nil else { return nil }
        self.hex = hex
    }

    public init(sha256 digest: ChunkID) { hex = digest.hex }

    /// The SHA-256 of `bytes` as an OCI digest.
    public init(of bytes: [UInt8]) { self.init(sha256: DigestAlgorithm.sha256.hash(bytes)) }

    public var description: String { "sha256:" + hex }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = OCIDigest(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a sha256 digest"))
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
