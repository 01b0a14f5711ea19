"""byed in a real container image and a real pod: the unmodified Dockerfile
built with podman (final `scratch` stage as `byed`, `demo` as `byed-demo`),
run with runc, and the Kubernetes manifests run with `podman kube play`.
"""

import json
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest
import urllib.request

import yaml

from deploylib import ROOT, byed_images, podman, require_root_and, wait_until

KUBE = os.path.join(ROOT, "packaging", "kubernetes")

# A server on the socket byed holds (fd 3) that answers with its pid and
# exits 0 on TERM (a graceful server).
SERVER = ("import http.server as h, os, signal, socket as s, sys\n"
          "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
          "class H(h.BaseHTTPRequestHandler):\n"
          "    def do_GET(self):\n"
          "        b = f'pid={os.getpid()}'.encode()\n"
          "        self.send_response(200)\n"
          "        self.send_header('Content-Length', str(len(b)))\n"
          "        self.end_headers(); self.wfile.write(b)\n"
          "    def log_message(self, *a): pass\n"
          "srv = h.HTTPServer(('', 0), H, bind_and_activate=False)\n"
          "srv.socket = s.socket(fileno=3)\n"
          "print('serving', flush=True)\n"
          "srv.serve_forever()\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
        return r.read().decode()


class ContainerTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root_and("podman", "runc", "debootstrap")
        byed_images()

    def run_container(self, *args):
        name = "byed-test-" + os.urandom(4).hex()
        podman("run", "-d", "--name", name, "--network", "host", *args)
        self.addCleanup(lambda: podman("rm", "-f", "-t", "0", name,
                                       check=False))
        return name

    def state(self, name, field):
        return podman("inspect", "-f", "{{.State.%s}}" % field,
                      name).stdout.strip()

    def logs(self, name):
        p = podman("logs", name, check=False)
        return p.stdout + p.stderr

    def start_server(self):
        """SERVER under byed --listen in the demo image, once it serves:
        (container name, port)."""
        port = free_port()
        name = self.run_container(
            "byed-demo", "/usr/local/bin/byed", "--listen", str(port), "--",
            "python3", "-c", SERVER)
        wait_until(lambda: "serving" in self.logs(name), what="the server")
        return name, port

    def test_final_image_runs_a_program(self):
        # The scratch stage: byed alone, its ENTRYPOINT `/byed --`.
        p = podman("run", "--rm", "byed", "/byed", "--version", check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("byed "), p.stdout)

    def test_pid1_reaps_40_orphans(self):
        name = self.run_container(
            "byed-demo", "/usr/local/bin/byed", "--", "/bin/sh", "-c",
            "for i in $(seq 40); do (sleep 1 &); done; "
            "echo spawned; exec sleep 1000")
        wait_until(lambda: "spawned" in self.logs(name), what="the orphans")

        def census():
            p = podman("exec", name, "sh", "-c",
                       "cat /proc/[0-9]*/stat 2>/dev/null", check=False)
            stats = [l.rsplit(")", 1)[1].split() for l in
                     p.stdout.splitlines() if ")" in l]
            comms = [l.split("(", 1)[1].rsplit(")", 1)[0] for l in
                     p.stdout.splitlines() if ")" in l]
            zombies = sum(1 for st in stats if st[0] == "Z")
            sleeping = sum(1 for st, c in zip(stats, comms)
                           if c == "sleep" and st[0] != "Z")
            return zombies, sleeping
        # Every orphan has ended (only `sleep 1000` sleeps) and none is left
        # a zombie: PID 1 reaped all 40.
        wait_until(lambda: census() == (0, 1), timeout=60,
                   what="40 orphans ended and reaped")

    def test_podman_stop_of_a_graceful_server_exits_0_at_once(self):
        name, _ = self.start_server()
        t0 = time.monotonic()
        podman("stop", "-t", "20", name)
        took = time.monotonic() - t0
        self.assertEqual(self.state(name, "ExitCode"), "0", self.logs(name))
        # Not the 20 s of podman's KILL: byed ended when the server did.
        self.assertLess(took, 10, f"podman stop took {took:.1f}s")

    def test_usr1_under_load_loses_no_request(self):
        name, port = self.start_server()
        first = get(port)
        failures, answers, stop = [], [], threading.Event()

        def client():
            while not stop.is_set():
                try:
                    answers.append(get(port))
                except OSError as e:
                    failures.append(str(e))
        t = threading.Thread(target=client)
        t.start()
        try:
            wait_until(lambda: len(answers) > 20, what="answers")
            podman("kill", "-s", "USR1", name)
            wait_until(lambda: answers and answers[-1] != first, timeout=60,
                       what="the new generation serving")
            n = len(answers)
            wait_until(lambda: len(answers) > n + 20, what="more answers")
        finally:
            stop.set()
            t.join()
        self.assertEqual(failures, [])
        self.assertEqual(self.state(name, "Running"), "true")

    def test_copy_from_recipe_of_the_readme(self):
        d = tempfile.mkdtemp(prefix="byed-recipe-")
        self.addCleanup(shutil.rmtree, d)
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            recipe = [l[1:].strip() for l in f
                      if l.startswith("#   ") and l[4:5].isupper()]
        self.assertIn("COPY --from=byed /byed /byed", recipe)
        with open(os.path.join(d, "Containerfile"), "w") as f:
            f.write("FROM debian:12-slim\n" + "\n".join(
                l.replace('"/app/server"', '"/bin/sh", "-c", "exit 3"')
                for l in recipe) + "\n")
        podman("build", "--network", "host", "-t", "byed-recipe", d)
        p = podman("run", "--rm", "byed-recipe", check=False)
        self.assertEqual(p.returncode, 3, p.stderr)


class PodTests(unittest.TestCase):
    """`podman kube play` of the shipped manifests (a Job's pod template
    played as a Pod; images from the local store)."""

    @classmethod
    def setUpClass(cls):
        require_root_and("podman", "runc", "debootstrap")
        byed_images()

    def play(self, doc):
        d = tempfile.mkdtemp(prefix="byed-kube-")
        self.addCleanup(shutil.rmtree, d)
        path = os.path.join(d, "pod.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(doc, f)
        self.addCleanup(lambda: podman("kube", "down", path, check=False))
        podman("kube", "play", "--network", "none", path)
        return path

    @staticmethod
    def local_images(spec):
        for c in spec["containers"]:
            c["image"] = "localhost/" + c["image"]
            c["imagePullPolicy"] = "Never"
        return spec

    def container(self, pod, name):
        return f"{pod}-{name}"

    def inspect(self, name):
        return json.loads(podman("inspect", name).stdout)[0]["State"]

    def test_job_with_sidecar_stops_together(self):
        with open(os.path.join(KUBE, "job-with-sidecar.yaml")) as f:
            job = yaml.safe_load(f)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "exitdir-job"},
               "spec": self.local_images(job["spec"]["template"]["spec"])}
        self.play(pod)
        work = self.container("exitdir-job", "work")
        side = self.container("exitdir-job", "log-shipper")
        wait_until(lambda: self.inspect(work)["Status"] == "exited" and
                   self.inspect(side)["Status"] == "exited", timeout=120,
                   what="both containers to exit")
        w, s = self.inspect(work), self.inspect(side)
        self.assertEqual(w["ExitCode"], 0)
        self.assertEqual(s["ExitCode"], 0)
        # The sidecar stopped because work ended, not after some timeout.
        gap = podman("inspect", "-f", "{{.State.FinishedAt.Unix}}", side,
                     work).stdout.split()
        self.assertLessEqual(int(gap[0]) - int(gap[1]), 2, gap)

    def test_deployment_serves_and_its_upgrade_command_works(self):
        with open(os.path.join(KUBE, "deployment.yaml")) as f:
            dep = yaml.safe_load(f)
        dep["spec"]["replicas"] = 1
        spec = self.local_images(dep["spec"]["template"]["spec"])
        for c in spec["containers"]:
            # podman maps a declared port to the host, which a pod without
            # a network (no bridge here) cannot have; it is served inside.
            c.pop("ports", None)
        self.play(dep)
        ps = podman("ps", "--format", "{{.Names}}").stdout.split()
        web = [n for n in ps if n.endswith("-web")]
        self.assertEqual(len(web), 1, ps)
        fetch = ("import urllib.request as u; print(u.urlopen("
                 "'http://127.0.0.1:8000/', timeout=30).status)")
        wait_until(lambda: podman("exec", web[0], "python3", "-c", fetch,
                                  check=False).stdout.strip() == "200",
                   what="the web container serving")
        # The command the manifest's comment gives, run the way kubectl
        # exec runs it.
        with open(os.path.join(KUBE, "deployment.yaml")) as f:
            text = f.read()
        self.assertIn("-- /usr/local/bin/byed ctl upgrade", text)
        p = podman("exec", web[0], "/usr/local/bin/byed", "ctl", "upgrade",
                   check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("upgraded: gen 2", p.stdout)
        self.assertEqual(podman("exec", web[0], "python3", "-c", fetch)
                         .stdout.strip(), "200")


if __name__ == "__main__":
    unittest.main()
