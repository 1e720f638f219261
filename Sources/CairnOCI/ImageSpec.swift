import Foundation

/// The parts of the OCI image spec (and Docker's v2 schema 2, which has the same shape) a pull reads.
public enum ImageSpec {
    public static let manifestTypes = [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
    public static let indexTypes = [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
    public static let imageConfigType = "application/vnd.oci.image.config.v1+json"
    public static let dockerConfigType = "application/vnd.docker.container.image.v1+json"

    public struct Platform: Codable, Sendable, Equatable {
        public var architecture: String
        public var os: String
        public var variant: String?

        public init(architecture: String, os: String, variant: String? = nil) {
            (self.architecture, self.os, self.variant) = (architecture, os, variant)
        }

        /// `os/arch[/variant]`, as `--platform` takes it.
        public init?(_ text: String) {
            let parts = text.split(separator: "/").map(String.init)
            guard parts.count == 2 || parts.count == 3 else { return nil }
            self.init(architecture: parts[1], os: parts[0], variant: parts.count == 3 ? parts[2] : nil)
        }

        public var description: String { "\(os)/\(architecture)" + (variant.map { "/" + $0 } ?? "") }

        /// This machine's platform in Go's names (what images are tagged with).
        public static var current: Platform {
            var name = utsname()
            uname(&name)
            let machine = withUnsafeBytes(of: name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let architecture = ["x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"][machine] ?? machine
            return Platform(architecture: architecture, os: "linux", variant: architecture == "arm" ? "v7" : nil)
        }
    }

    public struct Descriptor: Codable, Sendable {
        public var mediaType: String?
        public var digest: OCIDigest
        public var size: UInt64
        public var annotations: [String: String]?
        public var platform: Platform?
    }

    /// An image manifest, or an index (`manifests` set) listing one per platform.
    public struct Manifest: Codable, Sendable {
        public var schemaVersion: Int?
        public var mediaType: String?
        public var config: Descriptor?
        public var layers: [Descriptor]?
        public var manifests: [Descriptor]?

        public var isIndex: Bool { manifests != nil && config == nil }
    }

    public struct Config: Decodable, Sendable {
        public struct RootFS: Decodable, Sendable {
            public var type: String
            public var diff_ids: [OCIDigest]
        }
        public var architecture: String?
        public var os: String?
        public var rootfs: RootFS
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], naming name: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw OCIError("\(name) is not a valid \(T.self == Config.self ? "image config" : "manifest"): \(error)")
        }
    }

    /// The manifest for `platform` in an index: the exact variant if listed, else any of the
    /// architecture and OS.
    static func select(_ platform: Platform, in index: Manifest, naming name: String) throws -> Descriptor {
        let candidates = (index.manifests ?? []).filter { $0.platform?.os == platform.os && $0.platform?.architecture == platform.architecture }
        guard let chosen = candidates.first(where: { $0.platform?.variant == platform.variant }) ?? candidates.first else {
            let offered = (index.manifests ?? []).compactMap { $0.platform?.description }
            throw OCIError("\(name) has no image for \(platform.description) (it offers \(offered.isEmpty ? "none" : offered.joined(separator: ", ")))")
        }
        return chosen
    }
}

public struct OCIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
