#!/usr/bin/env python3
"""A bearer-token server for registry tests (distribution's `silly` auth accepts any token).

  token_server.py PORT LOG [USER:PASSWORD]

Answers GET /token with {"token", "access_token", "expires_in"}; with USER:PASSWORD it demands
that Basic credential (401 otherwise). Each request's path and whether it carried credentials
is appended to LOG."""
import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log = int(sys.argv[1]), sys.argv[2]
required = sys.argv[3] if len(sys.argv) > 3 else None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        given = self.headers.get("Authorization", "")
        credential = base64.b64decode(given[6:]).decode() if given.startswith("Basic ") else None
        with open(log, "a") as out:
            out.write(f"{self.path} basic={credential or '-'}\n")
        if required and credential != required:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"token": "t0ken", "access_token": "t0ken", "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
