import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL
import CairnIO
@preconcurrency import Glibc

/// A response read whole: status, headers and body.
public struct HTTPResponseData: Sendable {
    public let status: UInt
    public let headers: HTTPHeaders
    public let body: [UInt8]
}

/// Why a request failed for good, naming what was asked for.
public struct HTTPTransportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Sends requests over a shared connection pool (connections are reused), retrying transient
/// failures: connection errors, timeouts, truncated bodies, 5xx and 429. Other statuses, 404
/// included, are returned at once for the caller to interpret.
public struct HTTPTransport: Sendable {
    public let retry: RetryPolicy
    /// The longest a request may wait for its response's headers (plus time to send a large
    /// body at 256 KiB/s), and the longest a response body may stall between reads.
    public let timeout: Duration
    let client: HTTPClient

    /// - Parameter followsRedirects: redirects are followed (at most 5, no cycles) without the
    ///   `Authorization` header when they lead to another origin. Signed requests must not follow
    ///   them at all: other signed headers, such as a session token, would go along.
    public init(retry: RetryPolicy = RetryPolicy(), timeout: Duration = .seconds(60), followsRedirects: Bool = true) {
        (self.retry, self.timeout) = (retry, timeout)
        client = followsRedirects ? Self.redirectingClient : Self.plainClient
    }

    private static let redirectingClient = makeClient(redirects: .follow(max: 5, allowCycles: false))
    private static let plainClient = makeClient(redirects: .disallow)

    /// One pool per redirect policy for the whole process. A connection attempt fails at once
    /// instead of being retried until the request's deadline, so that `retry` alone decides how
    /// often to try again. TLS trusts the system's CAs, or those in `$SSL_CERT_FILE` (as OpenSSL,
    /// curl and Python do: a private MinIO or Ceph often has its own CA).
    private static func makeClient(redirects: HTTPClient.Configuration.RedirectConfiguration) -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: redirects)
        if let caFile = getenv("SSL_CERT_FILE").map({ String(cString: $0) }), !caFile.isEmpty {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(caFile)
            configuration.tlsConfiguration = tls
        }
        configuration.timeout.connect = .seconds(10)
        // The request deadline ends when the headers arrive; this bounds a body that stalls.
        configuration.timeout.read = .seconds(60)
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// - Parameters:
    ///   - what: names the object in errors, e.g. "chunk 1234… from https://…".
    ///   - makeRequest: builds the request afresh for every attempt (so it can be signed anew).
    ///   - bodySize: bytes the request sends, which extend its deadline.
    public func send(_ what: String, maximumBody: Int = 256 << 20, bodySize: Int = 0, makeRequest: () throws -> HTTPClientRequest) async throws -> HTTPResponseData {
        let allowed = timeout + .seconds(bodySize >> 18)
        return try await withRetries(what) {
            let request = try makeRequest()
            let response = try await client.execute(request, deadline: .now() + .nanoseconds(Int64(allowed / .nanoseconds(1))))
            let expected = request.method == .HEAD ? nil : response.headers.first(name: "content-length").flatMap(Int.init)
            let body: ByteBuffer
            do { body = try await response.body.collect(upTo: maximumBody) } catch is NIOTooManyBytesError {
                throw HTTPTransportError("\(what): the body is larger than \(maximumBody) bytes")
            }
            let status = response.status.code
            if let expected, body.readableBytes != expected, response.status != .notModified {
                return .retry("body ended after \(body.readableBytes) of \(expected) bytes")
            }
            if status >= 500 || status == 429 { return .retry("server answered \(status)") }
            return .done(HTTPResponseData(status: status, headers: response.headers, body: Array(buffer: body)))
        }
    }

    /// Like `send`, but a 200 response's body goes to `file` as it arrives (a layer of any size
    /// in bounded memory), and one longer than `maximum` is refused; a retried attempt starts the
    /// file over. Other statuses come back with
    /// their (small) body for the caller to interpret, and nothing in `file`.
    public func download(_ what: String, to file: File, maximum: UInt64, makeRequest: () throws -> HTTPClientRequest) async throws -> HTTPResponseData {
        try await withRetries(what) {
            try file.truncate(to: 0)
            let response = try await client.execute(try makeRequest(), deadline: .now() + .nanoseconds(Int64(timeout / .nanoseconds(1))))
            let status = response.status.code
            guard status == 200 else {
                // An error's explanation, if short; a long one is cut, never a reason to retry.
                var body = [UInt8]()
                for try await buffer in response.body where body.count < 1 << 16 { body += Array(buffer: buffer).prefix((1 << 16) - body.count) }
                if status >= 500 || status == 429 { return .retry("server answered \(status)") }
                return .done(HTTPResponseData(status: status, headers: response.headers, body: body))
            }
            let expected = response.headers.first(name: "content-length").flatMap(UInt64.init)
            if let expected, expected > maximum { throw HTTPTransportError("\(what): the server sends \(expected) bytes, more than the \(maximum) expected") }
            var written: UInt64 = 0
            for try await buffer in response.body {
                guard written + UInt64(buffer.readableBytes) <= maximum else {
                    throw HTTPTransportError("\(what): the server sent more than the \(maximum) bytes expected")
                }
                try buffer.withUnsafeReadableBytes { try file.write($0, at: written) }
                written += UInt64(buffer.readableBytes)
            }
            if let expected, written != expected { return .retry("body ended after \(written) of \(expected) bytes") }
            return .done(HTTPResponseData(status: status, headers: response.headers, body: []))
        }
    }

    private enum Attempt<Value> {
        case done(Value)
        /// A transient failure, described.
        case retry(String)
    }

    /// Runs `attempt` until it is done, retrying transient failures (its own, and connection
    /// errors and timeouts) with the policy's backoff; TLS failures and malformed requests fail at once.
    private func withRetries<Value>(_ what: String, _ attempt: () async throws -> Attempt<Value>) async throws -> Value {
        var count = 0
        while true {
            count += 1
            let problem: String
            do {
                switch try await attempt() {
                case .done(let value): return value
                case .retry(let description): problem = description
                }
            } catch let error as HTTPClientError where Self.isPermanent(error) {
                throw HTTPTransportError("\(what): \(error)")
            } catch let error as NIOSSLError {
                // A certificate the client does not trust stays untrusted on every attempt.
                throw HTTPTransportError("\(what): TLS failed: \(error) (a private CA can be given in SSL_CERT_FILE)")
            } catch let error as HTTPTransportError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                problem = "\(error)"
            }
            guard count < retry.attempts else {
                throw HTTPTransportError("\(what): \(problem) (gave up after \(count) attempts)")
            }
            try await Task.sleep(for: retry.delay(afterAttempt: count))
        }
    }

    /// Errors that no retry can fix: the request itself is wrong.
    private static func isPermanent(_ error: HTTPClientError) -> Bool {
        let permanent: [HTTPClientError] = [.invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown, .redirectCycleDetected, .redirectLimitReached]
        return permanent.contains(error) || error.shortDescription == HTTPClientError.unsupportedScheme("").shortDescription
    }
}
