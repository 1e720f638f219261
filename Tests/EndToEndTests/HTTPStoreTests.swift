import Foundation
import Testing

/// Extract, digest and info from a store behind nginx (an `http://` base URL).
@Suite struct HTTPStoreTests {
    @Test func extractDigestAndInfoOverHTTP() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", imageLikeBytes(3_000_000, seed: 51))
        #expect(try cairn("make", "--store", scratch.file("www/store"), scratch.file("x.caibx"), input).succeeded)
        let server = try NginxServer(root: scratch.file("www"))
        let store = server.url + "/store/"
        let extracted = try cairn("extract", "--store", store, scratch.file("x.caibx"), scratch.file("out"))
        #expect(extracted.succeeded, "\(extracted.stderr)")
        #expect(try scratch.read("out") == scratch.read("input"))
        #expect(try cairn("digest", "--store", store, scratch.file("x.caibx")).stdout == cairn("digest", input).stdout)
        let info = try cairn("info", "--store", store, scratch.file("x.caibx"))
        #expect(info.stdout.contains("missing:       0 of"), "\(info.stdout)\(info.stderr)")
    }

    @Test func missingAndCorruptChunksOverHTTP() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(2_000_000, seed: 52))
        #expect(try cairn("make", "--store", scratch.file("www/store"), scratch.file("x.caibx"), input).succeeded)
        let chunks = scratch.chunkFiles("www/store")
        try FileManager.default.removeItem(atPath: scratch.file(chunks[0]))
        let corrupt = scratch.file(chunks[1])
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: corrupt)))
        bytes[bytes.count / 2] ^= 1
        try FileManager.default.removeItem(atPath: corrupt)
        try Data(bytes).write(to: URL(fileURLWithPath: corrupt))
        let server = try NginxServer(root: scratch.file("www"))

        let result = try cairn("extract", "--store", server.url + "/store", scratch.file("x.caibx"), scratch.file("out"))
        #expect(result.status == 1)
        #expect(result.stderr.contains(String(URL(fileURLWithPath: corrupt).lastPathComponent.prefix(64))) && result.stderr.contains("corrupt"), "\(result.stderr)")
        #expect(!scratch.exists("out"))

        // A second store supplies what the first lacks or has damaged.
        #expect(try cairn("make", "--store", scratch.file("local"), scratch.file("x.caibx"), input).succeeded)
        let fallback = try cairn("extract", "--store", server.url + "/store", "--store", scratch.file("local"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(fallback.succeeded, "\(fallback.stderr)")
        #expect(try scratch.read("out") == scratch.read("input"))
    }

    @Test func cacheIsFilledWithVerifiedChunksOnly() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(2_000_000, seed: 55))
        #expect(try cairn("make", "--store", scratch.file("www/store"), scratch.file("x.caibx"), input).succeeded)
        let chunks = scratch.chunkFiles("www/store").map { String($0.dropFirst("www/store/".count)) }
        let corrupt = scratch.file("www/store/" + chunks[0])
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: corrupt)))
        var bad = good
        bad[bad.count / 2] ^= 1
        try FileManager.default.removeItem(atPath: corrupt)
        try Data(bad).write(to: URL(fileURLWithPath: corrupt))
        var server: NginxServer? = try NginxServer(root: scratch.file("www"))
        let store = server!.url + "/store"

        let failed = try cairn("extract", "--store", store, "--cache", scratch.file("cache"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(failed.status == 1 && failed.stderr.contains("corrupt"), "\(failed.stderr)")
        #expect(!scratch.exists("cache/" + chunks[0]), "a damaged download reached the cache")

        try FileManager.default.removeItem(atPath: corrupt)
        try Data(good).write(to: URL(fileURLWithPath: corrupt))
        let filled = try cairn("extract", "--store", store, "--cache", scratch.file("cache"), scratch.file("x.caibx"), scratch.file("out"))
        #expect(filled.succeeded, "\(filled.stderr)")
        #expect(scratch.chunkFiles("cache").count == chunks.count)

        // With the server gone, the cache alone serves; a damaged cached chunk is replaced from
        // the next store.
        server = nil
        try FileManager.default.removeItem(atPath: scratch.file("out"))
        #expect(try cairn("extract", "--store", store, "--cache", scratch.file("cache"), scratch.file("x.caibx"), scratch.file("out")).succeeded)
        #expect(try scratch.read("out") == scratch.read("input"))
        try FileManager.default.removeItem(atPath: scratch.file("cache/" + chunks[1]))
        try scratch.write("cache/" + chunks[1], [1, 2, 3])
        let repaired = try cairn("digest", "--store", scratch.file("www/store"), "--cache", scratch.file("cache"), scratch.file("x.caibx"))
        #expect(repaired.stdout == (try cairn("digest", input).stdout), "\(repaired.stderr)")
        #expect(try scratch.read("cache/" + chunks[1]) == scratch.read("www/store/" + chunks[1]))
    }

    @Test func redirectsAreFollowed() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(1_000_000, seed: 56))
        #expect(try cairn("make", "--store", scratch.file("www/store"), scratch.file("x.caibx"), input).succeeded)
        let origin = try NginxServer(root: scratch.file("www"))
        try FileManager.default.createDirectory(atPath: scratch.file("empty"), withIntermediateDirectories: true)
        let front = try NginxServer(root: scratch.file("empty"), extraConfig: "location /cdn/ { rewrite ^/cdn/(.*)$ \(origin.url)/$1 redirect; }")
        let extracted = try cairn("extract", "--store", front.url + "/cdn/store", scratch.file("x.caibx"), scratch.file("out"))
        #expect(extracted.succeeded, "\(extracted.stderr)")
        #expect(try scratch.read("out") == scratch.read("input"))
    }

    /// HTTPS with a private CA: refused until `SSL_CERT_FILE` names it, at once (no retries).
    @Test func httpsWithAPrivateCA() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(500_000, seed: 57))
        #expect(try cairn("make", "--store", scratch.file("www/store"), scratch.file("x.caibx"), input).succeeded)
        let made = try run("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=cairn test CA",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", scratch.file("key.pem"), "-out", scratch.file("cert.pem"),
        ])
        #expect(made.succeeded, "\(made.stderr)")
        let server = try NginxServer(root: scratch.file("www"), tls: (scratch.file("cert.pem"), scratch.file("key.pem")))

        let untrusted = try cairn("extract", "--store", server.url + "/store", scratch.file("x.caibx"), scratch.file("out"))
        #expect(untrusted.status == 1 && untrusted.stderr.contains("SSL_CERT_FILE") && !untrusted.stderr.contains("gave up after"), "\(untrusted.stderr)")
        #expect(!scratch.exists("out"))
        let trusted = try run(cairnPath, ["extract", "--store", server.url + "/store", scratch.file("x.caibx"), scratch.file("out")],
                              environment: ["SSL_CERT_FILE": scratch.file("cert.pem")])
        #expect(trusted.succeeded, "\(trusted.stderr)")
        #expect(try scratch.read("out") == scratch.read("input"))
    }

    @Test func unreachableServerFailsWithAClearError() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(100_000, seed: 53))
        #expect(try cairn("make", "--index-only", scratch.file("x.caibx"), input).succeeded)
        let port = try freePort()
        let result = try cairn("extract", "--store", "http://127.0.0.1:\(port)/store", scratch.file("x.caibx"), scratch.file("out"))
        #expect(result.status == 1)
        #expect(result.stderr.contains("127.0.0.1:\(port)") && result.stderr.contains("gave up after"), "\(result.stderr)")
        #expect(!scratch.exists("out"))
    }

    @Test func httpStoresAreReadOnly() throws {
        let scratch = try Scratch()
        let input = try scratch.write("input", randomBytes(1000, seed: 54))
        let result = try cairn("make", "--store", "http://127.0.0.1:1/store", scratch.file("x.caibx"), input)
        #expect(result.status != 0 && result.stderr.contains("read-only"))
    }
}
