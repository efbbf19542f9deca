"""The REST contract (issue 17): starts a real broker and session host (stack.py) and runs
tests/contract/contract.test.mjs against them, which calls every operation of docs/openapi.yaml
with valid and malformed input and validates every answer against the spec.

Usage: test_contract.py <build_dir> <source_dir>. Exit 0 = pass, 1 = fail, 77 = skipped (node or the
contract test's npm packages missing; under CI=true that is a failure instead, see test_e2e.skip)."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stack import Stack, run_case  # noqa: E402
from test_e2e import skip  # noqa: E402


def missing(source):
    """Why the contract test cannot run here, or None (deploy/install-deps.sh --test installs it)."""
    package = os.path.join(source, "tests/contract/node_modules/openapi-backend/package.json")
    if shutil.which("node") and os.path.exists(package):
        return None
    return "the contract test needs node and tests/contract's npm packages (run deploy/install-deps.sh --test)"


def check_contract(stack, source):
    env = dict(os.environ, PORTICO_URL=stack.url, PORTICO_CA=os.path.join(stack.state, "tls/broker.crt"),
               PORTICO_PASSWORD=stack.password, PORTICO_ADMIN_PASSWORD=stack.admin_password,
               PORTICO_HOST_ID=stack.host_id, PORTICO_SPEC=os.path.join(source, "docs/openapi.yaml"))
    proc = subprocess.run(["node", os.path.join(source, "tests/contract/contract.test.mjs")], env=env, timeout=300)
    assert proc.returncode == 0, "the broker does not keep its REST contract (see above)"


def main():
    build, source = sys.argv[1], sys.argv[2]
    if why := missing(source):
        try:
            return skip(why)
        except AssertionError as e:
            print(f"FAILED: {e}")
            return 1
    return run_case(Stack(build, source, name="contract"), lambda stack: check_contract(stack, source))


if __name__ == "__main__":
    sys.exit(main())
