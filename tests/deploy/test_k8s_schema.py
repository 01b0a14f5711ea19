"""The shipped Kubernetes manifests against the real Kubernetes OpenAPI
schemas (npm kubernetes-models), and a broken copy that must fail."""

import os
import re
import shutil
import tempfile
import unittest

from deploylib import CACHE, ROOT, cache_lock, log, run

HERE = os.path.dirname(os.path.abspath(__file__))
KUBE = os.path.join(ROOT, "packaging", "kubernetes")
MANIFESTS = [os.path.join(KUBE, f) for f in sorted(os.listdir(KUBE))
             if f.endswith(".yaml")]


class SchemaTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("node") is None or shutil.which("npm") is None:
            raise unittest.SkipTest("needs node and npm")
        cls.dir = os.path.join(CACHE, "k8s-schema")
        with cache_lock():
            if not os.path.isdir(os.path.join(cls.dir, "node_modules",
                                              "kubernetes-models")):
                os.makedirs(cls.dir, exist_ok=True)
                log("npm install kubernetes-models js-yaml")
                run(["npm", "install", "--prefix", cls.dir, "--no-audit",
                     "--no-fund", "kubernetes-models@4", "js-yaml@4"],
                    timeout=600)
        shutil.copy(os.path.join(HERE, "k8s_validate.js"), cls.dir)

    def validate(self, *files):
        return run(["node", os.path.join(self.dir, "k8s_validate.js"), *files],
                   check=False)

    def test_shipped_manifests_are_valid(self):
        self.assertEqual(len(MANIFESTS), 2, MANIFESTS)
        p = self.validate(*MANIFESTS)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.count(": valid"), 2, p.stdout)

    def test_a_broken_copy_fails(self):
        d = tempfile.mkdtemp(prefix="byed-k8s-")
        self.addCleanup(shutil.rmtree, d)
        with open(os.path.join(KUBE, "deployment.yaml")) as f:
            text = f.read()
        broken = os.path.join(d, "deployment.yaml")
        with open(broken, "w") as f:
            # A string where the schema says integer.
            f.write(re.sub(r"terminationGracePeriodSeconds: \d+",
                           'terminationGracePeriodSeconds: "35s"', text))
        p = self.validate(broken)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("terminationGracePeriodSeconds must be integer",
                      p.stdout)


if __name__ == "__main__":
    unittest.main()
