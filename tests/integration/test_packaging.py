"""Manifests and the Dockerfile: parsed and checked for what byed relies on
(a docker or kubectl run is not possible here)."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from byedtest import BYED

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


class KubernetesDeploymentTests(unittest.TestCase):
    def test_grace_period_covers_stop_timeout(self):
        (dep,) = load("packaging/kubernetes/deployment.yaml")
        self.assertEqual(dep["kind"], "Deployment")
        pod = dep["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        cmd = c["command"]
        self.assertTrue(cmd[0].endswith("/byed"))
        self.assertEqual(cmd[-1], "--")
        stop = cmd[cmd.index("--stop-timeout") + 1]
        self.assertRegex(stop, r"^\d+s$")
        grace = pod["terminationGracePeriodSeconds"]
        self.assertGreater(grace, int(stop[:-1]))
        self.assertLessEqual(grace, int(stop[:-1]) + 10)
        self.assertNotIn("lifecycle", c)  # no preStop needed
        listen = cmd[cmd.index("--listen") + 1]
        self.assertEqual(c["ports"][0]["containerPort"], int(listen))
        self.assertIn("httpGet", c["readinessProbe"])

    def test_ctl_in_the_container_finds_the_control_socket(self):
        # `kubectl exec ... byed ctl upgrade` runs with the container's env:
        # BYED_CONTROL must name a path on a mounted volume.
        (dep,) = load("packaging/kubernetes/deployment.yaml")
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in c.get("env", [])}
        self.assertIn("BYED_CONTROL", env)
        mounts = [m["mountPath"] for m in c["volumeMounts"]]
        self.assertTrue(any(env["BYED_CONTROL"].startswith(m + "/")
                            for m in mounts), (env, mounts))

    def test_demo_image_has_what_the_deployment_runs(self):
        (dep,) = load("packaging/kubernetes/deployment.yaml")
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        self.assertEqual(c["image"].split(":")[0], "byed-demo")
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            dockerfile = f.read()
        demo = dockerfile.split("AS demo", 1)[1].split("FROM ", 1)[0]
        if c["args"][0] == "python3":
            self.assertRegex(demo, r"apt-get install[^\n]*python3")

    def test_images_are_tagged_and_used_once_loaded_without_a_pull(self):
        # An untagged image is :latest, which Kubernetes always pulls: a
        # locally built one would fail with ErrImagePull. A tag (the
        # project's version) and IfNotPresent run the image loaded into the
        # node; the comments say how to build and load that very tag.
        with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(byed VERSION ([0-9.]+)",
                                f.read()).group(1)
        image = "byed-demo:" + version
        for path in ("packaging/kubernetes/deployment.yaml",
                     "packaging/kubernetes/job-with-sidecar.yaml"):
            (doc,) = load(path)
            for c in doc["spec"]["template"]["spec"]["containers"]:
                self.assertEqual(c["image"], image, (path, c["name"]))
                self.assertEqual(c["imagePullPolicy"], "IfNotPresent",
                                 (path, c["name"]))
            with open(os.path.join(ROOT, path)) as f:
                text = f.read()
            self.assertIn(f"docker build --target demo -t {image} .", text)
            self.assertIn(f"kind load docker-image {image}", text)
            self.assertIn(f"docker save {image} | sudo k3s ctr images import",
                          text)
        for path in ("Dockerfile", "README.md"):
            with open(os.path.join(ROOT, path)) as f:
                self.assertIn(f"docker build --target demo -t {image} .",
                              f.read(), path)

    def test_dockerignore_keeps_host_build_trees_out(self):
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            self.assertIn("build*/", f.read().split())


class SystemdUnitTests(unittest.TestCase):
    def test_unit_keeps_the_default_readiness_and_a_term_death_is_clean(self):
        with open(os.path.join(ROOT, "systemd", "myapp.service")) as f:
            unit = f.read()
        # auto: ready once the program waits on the socket (and said so, if
        # it speaks a protocol); --ready message alone is early for gunicorn.
        exec_start = re.search(r"(?m)^ExecStart=(.*)$", unit).group(1)
        self.assertNotIn("--ready", exec_start)
        self.assertIn("SuccessExitStatus=143", unit)

    def verify(self, service_text):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "myapp.service"), "w") as f:
            f.write(service_text)
        shutil.copy(os.path.join(ROOT, "systemd", "myapp.socket"), d)
        return subprocess.run(
            ["systemd-analyze", "verify", os.path.join(d, "myapp.service"),
             os.path.join(d, "myapp.socket")],
            capture_output=True, text=True, timeout=60)

    def unit_for_build(self):
        with open(os.path.join(ROOT, "systemd", "myapp.service")) as f:
            text = f.read()
        return (text.replace("/usr/bin/byed", BYED)
                .replace("/usr/local/bin/myapp", "/bin/sleep infinity"))

    @unittest.skipUnless(shutil.which("systemd-analyze"), "needs systemd")
    def test_units_verify(self):
        p = self.verify(self.unit_for_build())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.strip(), "")

    @unittest.skipUnless(shutil.which("systemd-analyze"), "needs systemd")
    def test_verify_would_catch_a_broken_unit(self):
        broken = self.unit_for_build().replace(BYED, "/nonexistent/byed")
        self.assertNotEqual(self.verify(broken).returncode, 0)

    def test_service_uses_what_byed_relies_on(self):
        with open(os.path.join(ROOT, "systemd", "myapp.service")) as f:
            text = f.read()
        for line in ("Type=notify", "NotifyAccess=main", "KillMode=mixed",
                     "ExecReload=/usr/bin/byed ctl upgrade"):
            self.assertRegex(text, rf"(?m)^{re.escape(line)}$")
        self.assertRegex(text, r"(?m)^ExecStart=/usr/bin/byed .* -- ")
        self.assertIn("ReloadSignal=SIGUSR1", text)  # the systemd >= 253 note


class BinaryTests(unittest.TestCase):
    def test_version_has_version_and_revision(self):
        out = subprocess.run([BYED, "--version"], capture_output=True,
                             text=True).stdout
        self.assertRegex(out, r"^byed \d+\.\d+\.\d+ \([0-9a-f]{7,}|unknown\)")

    def test_static_build_has_no_runtime_dependency(self):
        if os.environ.get("BYED_STATIC") != "ON":
            self.skipTest("not a static build (sanitizer builds cannot be)")
        p = subprocess.run(["ldd", BYED], capture_output=True, text=True)
        self.assertIn("not a dynamic executable", p.stdout + p.stderr)

    def test_man_page_lists_every_option_of_help(self):
        man = os.path.join(os.path.dirname(BYED), "byed.1")
        if not os.path.exists(man):
            self.skipTest("help2man not installed: no man page built")
        with open(man) as f:
            page = f.read().replace("\\-", "-")
        help_text = subprocess.run([BYED, "--help"], capture_output=True,
                                   text=True).stdout
        options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", help_text))
        self.assertGreater(len(options), 15)
        for opt in sorted(options):
            self.assertIn(opt, page, opt)
        self.assertIn("byed ctl", page)


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
