import ArgumentParser
import CairnOCI

/// How an image source is reached: the platform to take from a multi-platform image, registry
/// credentials, plain HTTP for a local registry.
struct SourceOptions: ParsableArguments {
    @Option(help: "The platform to take from a multi-platform image: os/arch[/variant] (default: this machine's).") var platform: String?
    @Option(help: "Registry credentials, user:password (default: $REGISTRY_AUTH_FILE, containers' auth.json or ~/.docker/config.json).") var creds: String?
    @Option(name: .customLong("tls-verify"), help: "false: speak plain HTTP to the registry (a local one).") var tlsVerify = true

    var parsedPlatform: ImageSpec.Platform {
        get throws {
            guard let platform else { return .current }
            guard let parsed = ImageSpec.Platform(platform) else { throw ValidationError("--platform \(platform) is not os/arch[/variant]") }
            return parsed
        }
    }

    func source(_ reference: String) throws -> any ImageSource {
        try ImageReference.source(reference, verifyTLS: tlsVerify, credentials: creds)
    }
}
