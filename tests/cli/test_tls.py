"""sockwire over mutual TLS: certificates minted by openssl at test time
(tests/security/mint_certs.sh), a real sockwired with a TLS listener on
127.0.0.1 port 0, and the CLI's --tls-ca/--tls-cert/--tls-key."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import cliharness

MINT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "security", "mint_certs.sh")


class TlsCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = tempfile.mkdtemp(prefix="sockwire-cli-certs-")
        subprocess.run(["bash", MINT, cls.certs], check=True, capture_output=True)
        c = lambda n: os.path.join(cls.certs, n)
        cls.d = cliharness.Daemon("--listen=tcp:127.0.0.1:0", "--tls-cert=" + c("server.pem"),
                                  "--tls-key=" + c("server.key"), "--tls-client-ca=" + c("ca.pem"))

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.certs, ignore_errors=True)

    def tls_target(self):
        return [a for a in self.d.ready["grpc_all"] if a.startswith("127.0.0.1:")][0]

    def run_cli(self, *args):
        return subprocess.run([cliharness.SOCKWIRE, "--daemon", self.tls_target()] + list(args),
                              capture_output=True, timeout=60)

    def test_health_over_mutual_tls(self):
        c = lambda n: os.path.join(self.certs, n)
        r = self.run_cli("--tls-ca", c("ca.pem"), "--tls-cert", c("a.pem"), "--tls-key", c("a.key"), "health")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"SERVING", r.stdout)

    def test_refused_without_a_client_certificate_or_with_a_foreign_one(self):
        c = lambda n: os.path.join(self.certs, n)
        for extra in ([], ["--tls-cert", c("stranger.pem"), "--tls-key", c("stranger.key")]):
            r = self.run_cli("--tls-ca", c("ca.pem"), *extra, "health", "--timeout", "2")
            self.assertNotEqual(r.returncode, 0, r.stdout)
        r = self.run_cli("--tls-ca", c("ca.pem"), "--tls-cert", c("a.pem"), "health")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"--tls-cert and --tls-key go together", r.stderr)


if __name__ == "__main__":
    unittest.main()
