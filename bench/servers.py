"""Local servers for the remote-store benchmarks: moto (S3) and nginx (static HTTP), each on a free
loopback port, started and stopped by the bench. Both measure themselves: CPU seconds used so far
(from /proc) and requests served so far (moto's request log, nginx's stub_status)."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads); 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_until_ready(url, process, log, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited ({process.returncode}) before it was ready:\n"
                               f"{Path(log).read_text(errors='replace')[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not ready after {seconds} s")
            time.sleep(0.05)


def stop(process, signal_name="terminate"):
    if process.poll() is None:
        getattr(process, signal_name)()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Server:
    """A server process the bench started: a context manager that stops it, also when it fails to start."""

    def _wait_until_ready(self, url):
        try:
            wait_until_ready(url, self.process, self.log)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


class Moto(Server):
    """`python3 -m moto.server` on a free port. State is in memory only: reset() wipes it (and frees
    moto's memory, ~80 KB an object)."""

    REQUEST = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})')

    def __init__(self, work, bucket):
        self.bucket = bucket
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = Path(work) / "moto.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_ready(f"{self.endpoint}/moto-api/")

    def close(self):
        stop(self.process)

    def reset(self):
        """Empties moto and makes the bucket again (the aws CLI signs it as us-east-1, as moto wants),
        readable without credentials like a public base URL."""
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=60).read()
        self.aws("s3api", "create-bucket", "--bucket", self.bucket)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                          "Resource": f"arn:aws:s3:::{self.bucket}/*"}]}
        self.aws("s3api", "put-bucket-policy", "--bucket", self.bucket, "--policy", json.dumps(policy))

    def aws(self, *arguments):
        return subprocess.run(["aws", "--endpoint-url", self.endpoint, *arguments],
                              check=True, capture_output=True, text=True).stdout

    def keys(self, prefix):
        """Keys under prefix/, relative to it."""
        return set(self.sizes(prefix))

    def sizes(self, prefix):
        """Sizes in bytes of the objects under prefix/, by key relative to it (ListObjectsV2 through
        `aws s3 ls`, every page)."""
        listing = self.aws("s3", "ls", "--recursive", f"s3://{self.bucket}/{prefix}/")
        sizes = {}
        for line in listing.splitlines():
            if line.strip():
                _, _, size, key = line.split(maxsplit=3)
                sizes[key[len(prefix) + 1:]] = int(size)
        return sizes

    def cpu(self):
        return cpu_seconds(self.process.pid)

    def requests(self):
        """Requests logged so far, by kind: PUT, GET, HEAD, LIST, …, and errors (status ≥ 400)."""
        counts = Counter()
        for method, path, status in self.REQUEST.findall(self.log.read_text(errors="replace")):
            if path.startswith("/moto-api"):
                continue
            counts["LIST" if method == "GET" and "list-type=" in path else method] += 1
            if int(status) >= 400:
                counts[f"HTTP {status}"] += 1
        return counts


class Nginx(Server):
    """nginx serving root read-only on a free port, in the foreground with its own pid, temp and log
    paths; worker_processes 2, access_log off, keep-alive and sendfile as by default."""

    def __init__(self, root):
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="cairn-bench-nginx-"))
        self.log = self.dir / "error.log"
        # As root, workers would run as nobody, who may not be able to read the stores (or reach them).
        user = "user root;" if os.geteuid() == 0 else ""
        temp = "\n".join(f"    {kind}_temp_path {self.dir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.dir / "nginx.conf").write_text(f"""daemon off;
{user}
worker_processes 2;
pid {self.dir / 'nginx.pid'};
error_log {self.log} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen 127.0.0.1:{self.port};
        root {Path(root).resolve()};
        location = /nginx-status {{ stub_status; }}
    }}
}}
""")
        self.process = subprocess.Popen([self.binary, "-c", self.dir / "nginx.conf", "-e", self.log],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_until_ready(f"{self.base}/nginx-status")

    def close(self):
        stop(self.process, "terminate")  # SIGTERM: fast shutdown of master and workers
        shutil.rmtree(self.dir, ignore_errors=True)

    def cpu(self):
        return cpu_seconds(self.process.pid) + sum(cpu_seconds(pid) for pid in children(self.process.pid))

    def requests(self):
        """Connections accepted and requests served so far, not counting these status requests."""
        status = urllib.request.urlopen(f"{self.base}/nginx-status", timeout=10).read().decode()
        accepts, handled, requests = map(int, status.splitlines()[2].split())
        self.status_requests = getattr(self, "status_requests", 0) + 1
        return Counter({"connections": accepts - self.status_requests, "GET": requests - self.status_requests})


class Registry(Server):
    """Debian's docker-registry (distribution) on a free port, storing under `root`."""

    def __init__(self, root):
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="cairn-bench-registry-"))
        self.log = self.dir / "registry.log"
        (self.dir / "config.yml").write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {Path(root).resolve()}
http:
  addr: {self.host}
  secret: benchsecret
""")
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(["docker-registry", "serve", self.dir / "config.yml"],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        self._wait_until_ready(f"http://{self.host}/v2/")

    def close(self):
        stop(self.process, "terminate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def cpu(self):
        return cpu_seconds(self.process.pid)

    def requests(self):
        """Not counted: the registry keeps no request counter."""
        return Counter()
