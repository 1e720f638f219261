#!/usr/bin/env python3
"""A registry front that sends blob downloads elsewhere, as registries backed by object storage do.

  redirect_proxy.py PORT BLOB_PORT REGISTRY BLOB_REGISTRY LOG

On PORT, every request is passed to REGISTRY (host:port) as it came, Authorization included,
except GET of a blob, which is answered 307 with a Location on BLOB_PORT (another origin). On
BLOB_PORT, the blob is served from BLOB_REGISTRY; each request appends to LOG whether it carried
an Authorization header ("auth=present" or "auth=absent")."""
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, blob_port, registry, blob_registry, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def relay(handler, url, headers):
    request = urllib.request.Request(url, method=handler.command, headers=headers)
    try:
        response = urllib.request.urlopen(request)
        status, reply, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, reply, body = error.code, error.headers, error.read()
    handler.send_response(status)
    for key, value in reply.items():
        if key.lower() not in ("content-length", "transfer-encoding", "connection"):
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class Front(BaseHTTPRequestHandler):
    def do_GET(self):
        parts = self.path.split("/blobs/")
        if len(parts) == 2 and parts[0].startswith("/v2/"):
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{blob_port}/{parts[0][4:]}/{parts[1]}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        relay(self, f"http://{registry}{self.path}", {k: v for k, v in self.headers.items() if k.lower() != "host"})

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


class Blobs(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as out:
            out.write(f"{self.path} auth={'present' if 'Authorization' in self.headers else 'absent'}\n")
        name, digest = self.path[1:].rsplit("/", 1)
        relay(self, f"http://{blob_registry}/v2/{name}/blobs/{digest}", {})

    def log_message(self, *args):
        pass


blobs = ThreadingHTTPServer(("127.0.0.1", blob_port), Blobs)
threading.Thread(target=blobs.serve_forever, daemon=True).start()
ThreadingHTTPServer(("127.0.0.1", port), Front).serve_forever()
