"""Manifests and the Dockerfile: parsed and checked for what byed relies on
(a docker or kubectl run is not possible here)."""

import os
import re
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return list(yaml.safe_load_all(f))


class KubernetesJobTests(unittest.TestCase):
    def setUp(self):
        docs = load("packaging/kubernetes/job-with-sidecar.yaml")
        self.assertEqual(len(docs), 1)
        self.job = docs[0]
        self.pod = self.job["spec"]["template"]["spec"]

    def container(self, name):
        return next(c for c in self.pod["containers"] if c["name"] == name)

    def exit_dir_of(self, c):
        env = {e["name"]: e["value"] for e in c.get("env", [])}
        cmd = c["command"] + c.get("args", [])
        if "--exit-dir" in cmd:
            return cmd[cmd.index("--exit-dir") + 1]
        return env.get("EXIT_DIR")

    def role_of(self, c):
        cmd = c["command"]
        return cmd[cmd.index("--exit-role") + 1] if "--exit-role" in cmd else \
            "leader,follower"

    def test_is_a_job_that_does_not_restart(self):
        self.assertEqual(self.job["apiVersion"], "batch/v1")
        self.assertEqual(self.job["kind"], "Job")
        self.assertEqual(self.pod["restartPolicy"], "Never")

    def test_both_containers_run_under_byed_with_a_shared_emptydir(self):
        volumes = {v["name"]: v for v in self.pod["volumes"]}
        mount_paths = set()
        for c in self.pod["containers"]:
            self.assertTrue(c["command"][0].endswith("/byed"), c["name"])
            self.assertIn("--", c["command"] + c.get("args", []))
            d = self.exit_dir_of(c)
            self.assertIsNotNone(d, c["name"])
            mount = next(m for m in c["volumeMounts"] if m["mountPath"] == d)
            self.assertIn("emptyDir", volumes[mount["name"]])
            mount_paths.add((mount["name"], d))
        self.assertEqual(len(mount_paths), 1, "one shared exit dir volume")

    def test_main_leads_and_sidecar_follows(self):
        self.assertIn("leader", self.role_of(self.container("work")))
        self.assertEqual(self.role_of(self.container("log-shipper")), "follower")

    def test_member_names_differ(self):
        names = []
        for c in self.pod["containers"]:
            cmd = c["command"]
            names.append(cmd[cmd.index("--name") + 1])
        self.assertEqual(len(set(names)), len(names))


class DockerfileTests(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            self.text = f.read()
        self.stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", self.text,
                                 re.M)

    def test_stages_and_entrypoint(self):
        names = [alias for _, alias in self.stages]
        self.assertIn("builder", names)
        self.assertIn("demo", names)
        self.assertEqual(self.stages[-1][0], "scratch")
        last = self.text[self.text.rindex("FROM scratch"):]
        self.assertIn('ENTRYPOINT ["/byed", "--"]', last)

    def test_builder_runs_the_ci_install_script_and_copied_paths_exist(self):
        self.assertIn("bash .ci/install-deps", self.text)
        self.assertTrue(os.path.exists(os.path.join(ROOT, ".ci/install-deps")))
        for src in re.findall(r"^COPY\s+(?!--from)(\S+)", self.text, re.M):
            self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)


if __name__ == "__main__":
    unittest.main()
