"""README's "curl + jq" walkthrough of the NDJSON Provision route, run as
written (addresses replaced by the test's) against a real espprovd + espsim."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import espprovtest as h

README = os.path.join(h.REPO, "README.md")
BLOCK = re.compile(r"<!-- rest-walkthrough -->\s*```sh\n(.*?)```\s*<!-- /rest-walkthrough -->", re.S)


def walkthrough() -> str:
    with open(README) as f:
        m = BLOCK.search(f.read())
    if not m:
        raise AssertionError("README.md has no rest-walkthrough block")
    return m.group(1)


class ReadmeRestWalkthroughTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("curl") or not shutil.which("jq"):
            raise AssertionError("the README walkthrough needs curl and jq (apt-get install curl jq)")
        cls.sim = h.start_espsim("--ap", "HomeNet:secret-pass", "--connect-delay", "50ms", devices=2)
        try:
            cls.server = h.start_espprovd()
        except BaseException:
            cls.sim.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.sim.stop()

    def run_block(self, device: str):
        script = walkthrough()
        self.assertIn("127.0.0.1:8090", script)
        self.assertIn("127.0.0.1:8081", script)
        script = script.replace("127.0.0.1:8090", self.server.http).replace("127.0.0.1:8081", device)
        with tempfile.TemporaryDirectory() as d:
            return subprocess.run(["bash", "-c", script], cwd=d, capture_output=True, text=True, timeout=300)

    def test_success(self):
        p = self.run_block(self.sim.devices[0].address)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "STEP_CONNECTING Connecting to device over httpd")
        self.assertIn("STEP_SESSION_ESTABLISHED Secure session established", lines)
        self.assertTrue(lines[-2].startswith("STEP_RESULT "), lines)
        self.assertEqual(lines[-1], "provisioned")
        self.assertNotIn("secret-pass", p.stdout)

    def test_failure_prints_the_error_and_exits_1(self):
        p = self.run_block("127.0.0.1:1")  # nothing listens there
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stdout.splitlines()[-1], r"^failed UNAVAILABLE: .*127\.0\.0\.1:1")


if __name__ == "__main__":
    unittest.main()
