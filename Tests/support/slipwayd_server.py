"""slipwayd as a process for the Python suites (the console in a browser, the contract under schemathesis)."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

API = "/2022-09-01-00"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """slipwayd on a fresh SQLite file, on loopback."""

    def __init__(self, binaries, work, admin, database="slipway.sqlite", environment=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        environment = dict(os.environ, SLIPWAY_ADMIN_EMAIL=admin[0], SLIPWAY_ADMIN_PASSWORD=admin[1], **(environment or {}))
        self.log_path = os.path.join(work, "slipwayd.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [os.path.join(binaries, "slipwayd"), "--port", str(self.port), "--database", os.path.join(work, database)],
            env=environment, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=2)
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError("slipwayd did not answer /healthz within 60 s")

    def call(self, method, path, body=None, token=None):
        request = urllib.request.Request(self.base + API + path, method=method)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, data=data, timeout=30) as reply:
                text = reply.read().decode()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: {error.code} {error.read().decode()}") from None
        return json.loads(text) if text else None

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
