"""schemathesis against a real slipwayd: the server keeps the contract it serves, and the upstream one.

Starts slipwayd on a fresh SQLite file and a free loopback port, signs in, and runs schemathesis twice
with a bearer token:
  1. against the server's own document (GET /openapi.yaml) with every check;
  2. against the upstream Omnistrate Image Config contract with `not_a_server_error` and
     `response_schema_conformance`.
Each run is bounded (examples per operation, a time budget) and seeded, so it is reproducible. Prints
a closing `N passed, N failed` over the runs and exits non-zero if any failed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import slipwayd_server  # noqa: E402

API = "/2022-09-01-00"
ADMIN = ("admin@example.com", "contract-admin-1")
# The operations that can end the session the run signs in with: sign-out, a password change, and a
# change to (or delete of) a user, which schemathesis aims at the run's own user once it has read its
# id. Fuzzed, they would sign the run out half-way and every later answer would be 401.
SESSION_ENDING = [
    "--exclude-path", f"{API}/signout",
    "--exclude-path", f"{API}/user/password",
    "--exclude-path", f"{API}/user/{{userId}}",
]


class Server(slipwayd_server.Server):
    """slipwayd on a fresh SQLite file, on loopback, with the run's admin."""

    def __init__(self, binaries, work):
        # Webhooks the run creates point at loopback (see hooks.py): nothing leaves this machine.
        super().__init__(binaries, work, ADMIN, database="contract.sqlite", environment={"SLIPWAY_WEBHOOK_ALLOW_PRIVATE": "true"})

    def sign_in(self):
        return self.call("POST", "/signin", {"email": ADMIN[0], "password": ADMIN[1]})["jwtToken"]


def schemathesis(venv, name, location, server, checks, seconds, args, work):
    base = server.base
    token = server.sign_in()
    command = [
        os.path.abspath(os.path.join(venv, "bin", "schemathesis")), "run", location, "--url", base,
        "--header", f"Authorization: Bearer {token}",
        "--checks", checks,
        "--max-examples", str(args.max_examples), "--seed", str(args.seed),
        "--max-time", str(seconds), "--workers", "2",
        "--request-timeout", "60", "--no-color", "--warnings", "off",
    ] + SESSION_ENDING
    print(f"== {name}: schemathesis run {location} --checks {checks}", flush=True)
    started = time.time()
    hooks = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks.py")
    environment = dict(os.environ, SCHEMATHESIS_HOOKS=os.path.splitext(os.path.basename(hooks))[0],
                       PYTHONPATH=os.path.dirname(hooks))
    # In the temporary directory: schemathesis keeps a cache in its working directory.
    result = subprocess.run(command, env=environment, cwd=work)
    print(f"== {name}: exit {result.returncode} after {time.time() - started:.0f} s", flush=True)
    # Answers after a lost session would all be 401 and prove nothing.
    try:
        server.call("GET", "/user", token=token)
    except RuntimeError as error:
        print(f"== {name}: the run's session did not last to its end: {error}", flush=True)
        return False
    return result.returncode == 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/debug", help="where slipwayd is")
    parser.add_argument("--venv", default=".build/schemathesis-venv")
    parser.add_argument("--upstream", default=os.path.join("..", "shared", "reference", "omnistrate-image-config.openapi.yaml"))
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("SLIPWAY_CONTRACT_EXAMPLES", "25")))
    parser.add_argument("--max-time", type=int, default=int(os.environ.get("SLIPWAY_CONTRACT_SECONDS", "150")),
                        help="time budget of the run with our document, in seconds (the upstream one gets 40%%)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SLIPWAY_CONTRACT_SEED", "20220901")))
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="slipway-contract-") as work:
        server = Server(args.bin, work)
        try:
            results.append(schemathesis(args.venv, "our document", server.base + "/openapi.yaml", server, "all", args.max_time, args, work))
            if os.path.exists(args.upstream):
                results.append(schemathesis(args.venv, "upstream contract", os.path.abspath(args.upstream), server,
                                            "not_a_server_error,response_schema_conformance", max(1, args.max_time * 2 // 5), args, work))
            else:
                print(f"the upstream contract is not at {args.upstream}", file=sys.stderr)
                results.append(False)
        finally:
            server.stop()
            server.log.close()
            if not all(results):
                with open(server.log_path) as log:
                    tail = log.readlines()[-40:]
                print("-- the last lines of slipwayd's log:", *tail, sep="\n", end="", file=sys.stderr)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
