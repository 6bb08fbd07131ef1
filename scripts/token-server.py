#!/usr/bin/env python3
"""A Docker token service for the tests (Python standard library and the openssl command only).

    scripts/token-server.py --key KEY.pem --cert CERT.pem --issuer ISSUER --user USER --password PASS \
        --port-file FILE

Listens on 127.0.0.1 (a free port, written to FILE once it listens) and answers
GET /token?service=…&scope=repository:<name>:<actions> for a client that sends the right Basic
credentials (anything else: 401) with {"token", "access_token", "expires_in", "issued_at"}: an ES256
JWT (iss, sub, aud=service, exp, nbf, iat, jti, access) whose header carries the certificate in x5c,
as distribution's `auth: token` verifies them. The requested actions are granted as asked.
"""
import argparse
import base64
import binascii
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_to_raw(der: bytes, size: int = 32) -> bytes:
    """An ECDSA DER signature (SEQUENCE of two INTEGERs) as JOSE's r || s."""
    if der[0] != 0x30:
        raise ValueError("not a DER sequence")
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        if der[i] != 0x02:
            raise ValueError("not a DER integer")
        length = der[i + 1]
        value = der[i + 2 : i + 2 + length].lstrip(b"\x00")
        out += value.rjust(size, b"\x00")
        i += 2 + length
    return out


def cert_der_b64(path: str) -> str:
    lines = open(path).read().strip().splitlines()
    body = "".join(l for l in lines if not l.startswith("-----"))
    base64.b64decode(body)  # must be valid
    return body


class Handler(BaseHTTPRequestHandler):
    config = None

    def log_message(self, fmt, *args):  # quiet: the tests read the answers, not the log
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        cfg = Handler.config
        url = urlparse(self.path)
        if url.path != "/token":
            return self.answer(404, {"error": "not found"})
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            try:
                u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                if u == cfg.user and p == cfg.password:
                    user = u
            except (binascii.Error, UnicodeDecodeError):
                pass
        if user is None:
            return self.answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "credentials required"}]},
                               [("WWW-Authenticate", 'Basic realm="slipway-test-token"')])
        query = parse_qs(url.query)
        service = query.get("service", [""])[0]
        access = []
        for scope in query.get("scope", []):
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) < 3:
                    continue
                access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [cfg.x5c]}
        claims = {"iss": cfg.issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": os.urandom(12).hex(), "access": access}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", cfg.key], input=signing_input.encode(),
                             capture_output=True, check=True).stdout
        token = signing_input + "." + b64url(der_to_raw(der))
        self.answer(200, {"token": token, "access_token": token, "expires_in": 300,
                          "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})


def main():
    parser = argparse.ArgumentParser()
    for name in ("--key", "--cert", "--issuer", "--user", "--password", "--port-file"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    args.x5c = cert_der_b64(args.cert)
    Handler.config = args
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
