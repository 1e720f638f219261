import AsyncHTTPClient
import CairnIO
import CairnStores
import Foundation
import NIOCore
import NIOHTTP1
import SystemPackage

/// `docker://HOST[:PORT]/NAME[:TAG|@DIGEST]`: an image in a registry speaking the distribution
/// v2 API. Bearer-token challenges are answered (anonymously, or with basic credentials from
/// `--creds` or an auth file); redirects to blob storage are followed without the registry's
/// `Authorization`; blobs go to temporary files, which the pull checks against their digests.
public final class RegistrySource: ImageSource, @unchecked Sendable {
    public let name: String
    let host: String
    let repository: String
    let reference: String
    let scheme: String
    let credentials: (user: String, password: String)?
    let transport = HTTPTransport()
    let scratch: String
    private let lock = NSLock()
    private var token: String?

    static let acceptedManifests = (ImageSpec.manifestTypes + ImageSpec.indexTypes).joined(separator: ", ")

    /// - Parameters:
    ///   - verifyTLS: false speaks plain HTTP (a local or test registry), as skopeo's `--tls-verify=false` allows.
    ///   - credentials: `user:password`; without it, the auth file's entry for the host, if any.
    public init(_ reference: String, verifyTLS: Bool = true, credentials: String? = nil) throws {
        name = reference
        guard reference.hasPrefix("docker://") else { throw OCIError("\(reference) is not a docker:// reference") }
        var rest = String(reference.dropFirst("docker://".count))
        var tagOrDigest = "latest"
        if let at = rest.firstIndex(of: "@") {
            tagOrDigest = String(rest[rest.index(after: at)...])
            guard OCIDigest(tagOrDigest) != nil else { throw OCIError("\(reference) names the digest \(tagOrDigest), which is not sha256:<64 hex>") }
            rest = String(rest[..<at])
        } else if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tagOrDigest = String(rest[rest.index(after: colon)...])
            rest = String(rest[..<colon])
        }
        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 1, parts[0].contains(".") || parts[0].contains(":") || parts[0] == "localhost" {
            host = parts.removeFirst()
        } else {
            host = "docker.io"
        }
        if host == "docker.io" && parts.count == 1 { parts.insert("library", at: 0) }
        repository = parts.joined(separator: "/")
        guard !repository.isEmpty, parts.allSatisfy({ !$0.isEmpty }), !tagOrDigest.isEmpty else { throw OCIError("\(reference) names no image") }
        self.reference = tagOrDigest
        scheme = verifyTLS ? "https" : "http"
        if let credentials {
            guard let colon = credentials.firstIndex(of: ":") else { throw OCIError("credentials must be user:password") }
            self.credentials = (String(credentials[..<colon]), String(credentials[credentials.index(after: colon)...]))
        } else {
            self.credentials = try Self.storedCredentials(for: host, repository: repository)
        }
        let temporary = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/tmp"
        scratch = temporary + "/cairn-pull-" + FileSystem.randomSuffix()
        try FileSystem.makeDirectories(scratch, permissions: 0o700)
    }

    deinit {
        for name in (try? FileSystem.contents(of: scratch)) ?? [] { try? FileSystem.remove(scratch + "/" + name) }
        FileSystem.removeEmptyDirectory(scratch)
    }

    /// Where the registry's API is: Docker Hub's lives on registry-1.docker.io.
    var base: String { "\(scheme)://\(host == "docker.io" ? "registry-1.docker.io" : host)/v2/\(repository)" }

    public func topManifest() async throws -> (bytes: [UInt8], digest: OCIDigest) {
        let bytes = try await manifestBytes(reference)
        let digest = OCIDigest(of: bytes)
        if let expected = OCIDigest(reference), expected != digest {
            throw OCIError("the registry served a manifest with the digest \(digest) for \(name)")
        }
        return (bytes, digest)
    }

    public func manifest(_ descriptor: ImageSpec.Descriptor) async throws -> [UInt8] {
        let bytes = try await manifestBytes(descriptor.digest.description)
        guard OCIDigest(of: bytes) == descriptor.digest else { throw OCIError("the registry served manifest \(descriptor.digest) of \(name) with other content") }
        return bytes
    }

    private func manifestBytes(_ reference: String) async throws -> [UInt8] {
        let what = "manifest \(reference) of \(name)"
        let response = try await send(what, path: "/manifests/" + reference, accept: Self.acceptedManifests, to: nil)
        guard response.body.count <= 16 << 20 else { throw OCIError("\(what) is larger than 16 MiB") }
        return response.body
    }

    public func blob(_ descriptor: ImageSpec.Descriptor) async throws -> (path: String, offset: UInt64) {
        let path = scratch + "/" + descriptor.digest.hex
        let file = try File.open(path, .readWrite, options: [.create, .truncate], permissions: [.ownerReadWrite])
        _ = try await send("blob \(descriptor.digest) of \(name)", path: "/blobs/" + descriptor.digest.description, accept: nil, to: (file, descriptor.size))
        return (path, 0)
    }

    public func release(_ descriptor: ImageSpec.Descriptor) { try? FileSystem.remove(scratch + "/" + descriptor.digest.hex) }

    /// A GET of `path` under the repository's API, answering an auth challenge once. A 200's
    /// body goes to `file` when one is given.
    private func send(_ what: String, path: String, accept: String?, to file: (File, size: UInt64)?) async throws -> HTTPResponseData {
        var challenged = false
        while true {
            let authorization = lock.withLock { token }
            let makeRequest = { [base] in
                var request = HTTPClientRequest(url: base + path)
                if let accept { request.headers.add(name: "Accept", value: accept) }
                if let authorization { request.headers.add(name: "Authorization", value: authorization) }
                return request
            }
            let response = if let (file, size) = file {
                try await transport.download(what, to: file, maximum: size, makeRequest: makeRequest)
            } else {
                try await transport.send(what, maximumBody: 16 << 20, makeRequest: makeRequest)
            }
            switch response.status {
            case 200:
                return response
            case 401 where !challenged:
                challenged = true
                let header = response.headers.first(name: "www-authenticate") ?? ""
                let newToken = try await authorize(header, for: what)
                lock.withLock { token = newToken }
            case 401, 403:
                throw OCIError("\(what): the registry refused access (\(response.status))\(credentials == nil ? "; it may need credentials (--creds or an auth file)" : ": wrong credentials?")")
            case 404:
                throw OCIError("\(what): not found (\(Self.errorText(response.body)))")
            default:
                throw OCIError("\(what): the registry answered \(response.status) (\(Self.errorText(response.body)))")
            }
        }
    }

    /// The `Authorization` value a challenge asks for: basic credentials, or a bearer token
    /// from the realm it names (asked for with the credentials, if any).
    private func authorize(_ challenge: String, for what: String) async throws -> String {
        let (scheme, parameters) = Self.parseChallenge(challenge)
        let basic = credentials.map { "Basic " + Data("\($0.user):\($0.password)".utf8).base64EncodedString() }
        switch scheme.lowercased() {
        case "basic":
            guard let basic else { throw OCIError("\(what): the registry wants credentials (--creds or an auth file)") }
            return basic
        case "bearer":
            guard let realm = parameters["realm"], var components = URLComponents(string: realm) else {
                throw OCIError("\(what): the registry's bearer challenge names no realm")
            }
            // Credentials never travel in the clear to a registry reached over TLS.
            guard components.scheme == "https" || self.scheme == "http" else {
                throw OCIError("\(what): the registry sends for tokens to \(realm), which is not https")
            }
            var query = components.queryItems ?? []
            if let service = parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
            query.append(URLQueryItem(name: "scope", value: parameters["scope"] ?? "repository:\(repository):pull"))
            if let credentials { query.append(URLQueryItem(name: "account", value: credentials.user)) }
            components.queryItems = query
            guard let url = components.string else { throw OCIError("\(what): the token realm \(realm) is not a URL") }
            let response = try await transport.send("token for \(name) from \(realm)", maximumBody: 1 << 20) {
                var request = HTTPClientRequest(url: url)
                if let basic { request.headers.add(name: "Authorization", value: basic) }
                return request
            }
            guard response.status == 200 else {
                throw OCIError("\(what): the token server \(realm) answered \(response.status)\(credentials == nil ? "; it may need credentials (--creds or an auth file)" : ": wrong credentials?")")
            }
            struct Token: Decodable { var token: String?; var access_token: String? }
            guard let decoded = try? JSONDecoder().decode(Token.self, from: Data(response.body)), let token = decoded.token ?? decoded.access_token else {
                throw OCIError("\(what): the token server \(realm) sent no token")
            }
            return "Bearer " + token
        default:
            throw OCIError("\(what): the registry asks for '\(scheme)' authentication, which cairn does not speak")
        }
    }

    /// `Bearer realm="…",service="…",scope="…"` → scheme and parameters.
    static func parseChallenge(_ header: String) -> (String, [String: String]) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else { return (trimmed, [:]) }
        var parameters = [String: String]()
        var rest = Substring(trimmed[trimmed.index(after: space)...])
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: " ,"))
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                let end = rest.firstIndex(of: "\"") ?? rest.endIndex
                value = String(rest[..<end])
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : ""
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            parameters[key.lowercased()] = value
        }
        return (String(trimmed[..<space]), parameters)
    }

    static func errorText(_ body: [UInt8]) -> String {
        struct Errors: Decodable { struct Item: Decodable { var code: String?; var message: String? }; var errors: [Item] }
        guard let errors = try? JSONDecoder().decode(Errors.self, from: Data(body)), !errors.errors.isEmpty else { return "no details" }
        return errors.errors.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ")
    }

    /// Basic credentials for `host` from `$REGISTRY_AUTH_FILE`, containers' `auth.json` or
    /// Docker's `config.json` (the first that exists), matching `host/repository` prefixes first.
    static func storedCredentials(for host: String, repository: String) throws -> (user: String, password: String)? {
        let environment = ProcessInfo.processInfo.environment
        let home = environment["HOME"] ?? "/root"
        var files = [String]()
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty { files.append(file) }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { files.append(runtime + "/containers/auth.json") }
        files += [home + "/.config/containers/auth.json", home + "/.docker/config.json"]
        guard let file = files.first(where: FileSystem.exists) else { return nil }
        struct AuthFile: Decodable { struct Entry: Decodable { var auth: String? }; var auths: [String: Entry]? }
        guard let parsed = try? JSONDecoder().decode(AuthFile.self, from: Data(try File.open(file, .readOnly).readAll())) else {
            throw OCIError("\(file) is not a valid auth file")
        }
        let auths = parsed.auths ?? [:]
        let parts = repository.split(separator: "/").map(String.init)
        let keys = (0...parts.count).reversed().map { ([host] + parts.prefix($0)).joined(separator: "/") } + (host == "docker.io" ? ["https://index.docker.io/v1/"] : [])
        guard let entry = keys.lazy.compactMap({ auths[$0]?.auth }).first else { return nil }
        guard let decoded = Data(base64Encoded: entry).map({ String(decoding: $0, as: UTF8.self) }), let colon = decoded.firstIndex(of: ":") else {
            throw OCIError("\(file) holds credentials for \(host) that are not base64 of user:password")
        }
        return (String(decoded[..<colon]), String(decoded[decoded.index(after: colon)...]))
    }
}
