#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 reverse proxy for loopback tests (stdlib only).

Usage:
    python3 fault_proxy.py --port P --upstream 127.0.0.1:Q [options]

Listens on 127.0.0.1:P (0 = pick a free port), forwards every request to the
upstream unchanged (Host and Authorization included, so SigV4 stays valid) and
passes the response back. Hop-by-hop headers are dropped and Content-Length is
recomputed; HEAD/204/304 keep the upstream Content-Length. Client connections
are kept alive; each client connection has its own upstream connection.
Prints "listening on P" to stdout once ready; exits 0 on SIGTERM/SIGINT.

Fault kinds (--faults, comma separated, default none = plain pass-through):
    reset     close the client socket with a TCP RST, upstream not contacted
    500, 503  answer that status with a short body (503 adds Retry-After: 0),
              upstream not contacted
    truncate  fetch the real response, send its headers (full Content-Length)
              and half the body, then close (FIN, so the client reliably gets
              exactly half); HEAD or an empty body falls back to reset
    corrupt   fetch the real response; a non-empty 200 body gets the bits of
              its middle byte flipped (same length); otherwise unchanged
    stall     read the request, sleep --stall-seconds (30), then close

Which requests are faulted (only while injection is on and the request matches
--methods / --path-contains):
    --fail-first N  the first N requests of each (method, path?query) key are
                    faulted (default 1), later ones pass through
    --fail-all      every matching request is faulted
The kind is chosen per key: the k-th matching request of a key (k = 0, 1, ...)
gets kinds[k % len(kinds)], independent of other keys' traffic. Requests are
not counted towards a key while injection is off.

Control (handled by the proxy, never faulted or forwarded):
    GET  /__faults__      {"requests": n, "faults": {"reset": n, ...}, "enabled": b}
    POST /__faults__/off  disable fault injection;  POST /__faults__/on  enable it
"""
import argparse, http.client, json, signal, socket, socketserver, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("reset", "500", "503", "truncate", "corrupt", "stall")
HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
       "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect"}


def log(msg):
    sys.stderr.write(f"fault_proxy: {msg}\n")
    sys.stderr.flush()


class Proxy(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, args):
        self.args, self.lock, self.enabled = args, threading.Lock(), True
        host, _, port = args.upstream.rpartition(":")
        self.upstream = (host or "127.0.0.1", int(port))
        self.kinds = [k for k in args.faults.split(",") if k]
        self.methods = {m.upper() for m in args.methods.split(",") if m}
        self.seen, self.requests, self.counts = {}, 0, {k: 0 for k in self.kinds}
        super().__init__(("127.0.0.1", args.port), Handler)

    def server_bind(self):  # skip HTTPServer's getfqdn() reverse lookup
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def choose(self, method, path):
        """Count the request and return the fault kind to apply, or None."""
        a = self.args
        with self.lock:
            self.requests += 1
            if not (self.enabled and self.kinds) or (self.methods and method not in self.methods) \
                    or (a.path_contains and a.path_contains not in path):
                return None
            n = self.seen.get((method, path), 0)
            self.seen[(method, path)] = n + 1
            if not a.fail_all and n >= a.fail_first:
                return None
            kind = self.kinds[n % len(self.kinds)]
            self.counts[kind] += 1
            return kind


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    up = None  # per-connection upstream http.client.HTTPConnection

    def log_message(self, *args):
        pass

    def finish(self):
        if self.up:
            self.up.close()
        super().finish()

    def handle_any(self):
        try:
            self.proxy()
        except ValueError:  # malformed Content-Length or chunk size
            self.send_error(400, "bad request body framing")
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = handle_any

    def read_exactly(self, n):
        data = self.rfile.read(n)
        if len(data) < n:
            raise ConnectionResetError("client closed mid-body")
        return data

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while size := int(self.rfile.readline(65537).split(b";")[0], 16):
                out += self.read_exactly(size + 2)[:-2]
            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(out)
        return self.read_exactly(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, body, headers=(), length=None, reason=None):
        self.send_response_only(status, reason)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reset(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # drop the makefile() reference so close() really closes (-> RST)
            self.connection.close()
        except OSError:
            pass

    def control(self, body):
        s, path = self.server, self.path.split("?")[0]
        if self.command == "POST" and path in ("/__faults__/on", "/__faults__/off"):
            with s.lock:
                s.enabled = path.endswith("/on")
        elif not (self.command == "GET" and path == "/__faults__"):
            return self.reply(404, b"unknown control endpoint\n", [("Content-Type", "text/plain")])
        with s.lock:
            data = {"requests": s.requests, "faults": dict(s.counts), "enabled": s.enabled}
        self.reply(200, json.dumps(data).encode() + b"\n", [("Content-Type", "application/json")])

    def forward(self, body):
        drop = HOP | {h.strip().lower() for h in self.headers.get("Connection", "").split(",")}
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in drop | {"content-length"}]
        if body or "Content-Length" in self.headers or "Transfer-Encoding" in self.headers:
            headers.append(("Content-Length", str(len(body))))
        while True:
            if self.up is None:
                self.up = http.client.HTTPConnection(*self.server.upstream, timeout=120)
            fresh = self.up.sock is None
            try:
                self.up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    self.up.putheader(k, v)
                self.up.endheaders(body or None)
                resp = self.up.getresponse()
                return resp, resp.read()
            except (http.client.HTTPException, OSError):
                self.up.close()
                if fresh:  # only a stale keep-alive connection is retried
                    raise

    def proxy(self):
        body = self.read_body()
        if self.path.split("?")[0].startswith("/__faults__"):
            return self.control(body)
        kind = self.server.choose(self.command, self.path)
        if kind == "reset":
            return self.reset()
        if kind in ("500", "503"):
            extra = [("Retry-After", "0")] if kind == "503" else []
            return self.reply(int(kind), f"injected fault {kind}\n".encode(),
                              [("Content-Type", "text/plain")] + extra)
        if kind == "stall":
            time.sleep(self.server.args.stall_seconds)
            self.close_connection = True
            return
        try:
            resp, data = self.forward(body)
        except (http.client.HTTPException, OSError) as e:
            log(f"upstream error for {self.command} {self.path}: {e!r}")
            return self.reply(502, f"upstream error: {e!r}\n".encode(), [("Content-Type", "text/plain")])
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP | {"content-length"}]
        no_body = self.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        length = resp.getheader("Content-Length") if no_body else None
        if kind == "truncate":
            if no_body or not data:
                return self.reset()
            self.reply(resp.status, data[: len(data) // 2], headers, len(data), resp.reason)
            self.close_connection = True  # FIN after half the body: a clean premature EOF
            return
        if kind == "corrupt" and resp.status == 200 and data and not no_body:
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        if no_body:  # pass the upstream length through (if any), send no body
            self.send_response_only(resp.status, resp.reason)
            for k, v in headers + ([("Content-Length", length)] if length is not None else []):
                self.send_header(k, v)
            return self.end_headers()
        self.reply(resp.status, data, headers, reason=resp.reason)


def main():
    p = argparse.ArgumentParser(description="Fault-injecting HTTP/1.1 reverse proxy for tests.")
    p.add_argument("--port", type=int, required=True, help="listen port on 127.0.0.1 (0 = any)")
    p.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    p.add_argument("--faults", default="", help="comma-separated kinds: " + ",".join(KINDS))
    p.add_argument("--fail-first", type=int, default=1, help="fault the first N requests per key")
    p.add_argument("--fail-all", action="store_true", help="fault every matching request")
    p.add_argument("--methods", default="", help="only fault these methods, e.g. GET,HEAD")
    p.add_argument("--path-contains", default="", help="only fault paths containing this")
    p.add_argument("--stall-seconds", type=float, default=30.0)
    args = p.parse_args()
    bad = [k for k in args.faults.split(",") if k and k not in KINDS]
    if bad:
        p.error(f"unknown fault kind(s): {','.join(bad)}")
    for sig in (signal.SIGTERM, signal.SIGINT):  # explicit: SIGINT may be inherited as ignored
        signal.signal(sig, lambda *_: sys.exit(0))
    try:
        server = Proxy(args)
    except OSError as e:
        sys.exit(f"fault_proxy: cannot listen on 127.0.0.1:{args.port}: {e}")
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
