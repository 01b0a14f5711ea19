"""The README's quick-start command, verbatim, in a fresh Debian 12
container (root, no sudo installed): it installs, builds and runs byed in
front of python3's http.server, which must then answer."""

import os
import re
import subprocess
import unittest

from deploylib import ROOT, base_images, podman, require_root_and, wait_until


def readme_commands():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    quick = text.split("## Quick start", 1)[1]
    return re.findall(r"```sh\n(.*?)\n```", quick, re.S)[:2]


class ReadmeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root_and("podman", "runc", "debootstrap", "git")
        base_images()

    def test_quick_start_command_serves(self):
        command = readme_commands()[0]
        self.assertIn("$(command -v sudo)", command)
        name = "byed-readme-" + os.urandom(4).hex()
        # The checkout as a user has it (tracked files, this commit's tree
        # and any uncommitted change), no build trees.
        files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"],
                               capture_output=True, check=True).stdout
        podman("create", "--name", name, "--network", "host", "-w", "/src",
               "debian:12", "sh", "-c", "set -e\n" + command)
        self.addCleanup(lambda: podman("rm", "-f", "-t", "0", name,
                                       check=False))
        tar = subprocess.run(["tar", "-C", ROOT, "--null", "-T", "-", "-c",
                              "--transform", "s,^,src/,", "-f", "-"],
                             input=files, capture_output=True, check=True)
        podman("cp", "-", f"{name}:/", input=tar.stdout, text=False)
        self.assertNotIn("sudo", podman("run", "--rm", "debian:12", "sh",
                                        "-c", "command -v sudo || true")
                         .stdout)
        podman("start", name)

        def serving():
            if podman("inspect", "-f", "{{.State.Running}}",
                      name).stdout.strip() != "true":
                logs = podman("logs", name, check=False)
                raise AssertionError("the command ended:\n" +
                                     (logs.stdout + logs.stderr)[-3000:])
            p = podman("exec", name, "python3", "-c",
                       "import urllib.request as u; print(u.urlopen("
                       "'http://127.0.0.1:8000/', timeout=10).status)",
                       check=False)
            return p.stdout.strip() == "200"
        wait_until(serving, timeout=1500, interval=2,
                   what="the README's server on port 8000")
        podman("stop", "-t", "30", name)


if __name__ == "__main__":
    unittest.main()
