"""What the deployment tests share: a cache of root filesystems and images
on this machine (built when missing), podman with the settings this kind of
machine needs, and waiting with a deadline.

The cache lives in $BYED_DEPLOY_CACHE (default /var/cache/byed): a Debian 12
minbase tree (the `debian:12` and `debian:12-slim` base images) and one with
systemd, gunicorn, python3 and curl (booted with systemd-nspawn). Each is
built into NAME.tmp and renamed when complete, so an interrupted build is
never taken for a cache entry.
"""

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from byedtest import wait_until as _wait_until  # noqa: E402
BYED = os.environ.get("BYED", "")
CACHE = os.environ.get("BYED_DEPLOY_CACHE", "/var/cache/byed")
SUITE = "bookworm"
SYSTEMD_PACKAGES = "systemd,dbus,python3,gunicorn,curl"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def require_root_and(*programs):
    if os.geteuid() != 0:
        raise unittest.SkipTest("deployment tests run as root")
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        raise unittest.SkipTest("not installed: " + " ".join(missing))


@contextlib.contextmanager
def cache_lock():
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, "lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def rootfs(name, include=None):
    """The cached tree NAME, made with debootstrap if it is not there."""
    path = os.path.join(CACHE, name)
    with cache_lock():
        if os.path.isdir(path):
            return path
        tmp = path + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = ["debootstrap", "--variant=minbase"]
        if include:
            cmd.append("--include=" + include)
        cmd += [SUITE, tmp]
        log("building", path, "(debootstrap, a few minutes)")
        run(cmd, timeout=1800)
        os.rename(tmp, path)
    return path


def run(cmd, timeout=600, check=True, **kw):
    kw.setdefault("text", True)
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd!r} exited {p.returncode}:\n"
                             f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


# podman: runc (crun refuses hybrid cgroups) and no default ulimits above
# what this machine allows; our own config file, the host's is untouched.
CONTAINERS_CONF = os.path.join(CACHE, "containers.conf")


def podman_env():
    os.makedirs(CACHE, exist_ok=True)
    text = ('[containers]\ndefault_ulimits = []\n'
            '[engine]\nruntime = "runc"\n')
    try:
        with open(CONTAINERS_CONF) as f:
            same = f.read() == text
    except FileNotFoundError:
        same = False
    if not same:
        with open(CONTAINERS_CONF + ".tmp", "w") as f:
            f.write(text)
        os.rename(CONTAINERS_CONF + ".tmp", CONTAINERS_CONF)
    return dict(os.environ, CONTAINERS_CONF=CONTAINERS_CONF)


def podman(*args, timeout=600, check=True, **kw):
    return run(["podman", *args], timeout=timeout, check=check,
               env=podman_env(), **kw)


def image_exists(name):
    return podman("image", "exists", name, check=False).returncode == 0


def base_images():
    """debian:12 and debian:12-slim: a fresh Debian 12 minbase tree."""
    with cache_lock():
        if image_exists("debian:12") and image_exists("debian:12-slim"):
            return
    tree = rootfs("debian12-minbase")
    with cache_lock():
        tar = subprocess.Popen(["tar", "-C", tree, "-c", "."],
                               stdout=subprocess.PIPE)
        podman("import", "-", "debian:12", stdin=tar.stdout)
        tar.wait()
        podman("tag", "debian:12", "debian:12-slim")


def project_version():
    """The VERSION of CMakeLists.txt's project()."""
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(byed VERSION ([0-9.]+)", f.read()).group(1)


def byed_images():
    """The Dockerfile's final stage as `byed`, its demo stage as `byed-demo`
    (also tagged as the Kubernetes manifests name it, the project's
    version), built from this checkout (podman's layer cache makes a rebuild
    of an unchanged tree quick)."""
    base_images()
    demo = ["--target", "demo", "-t", "byed-demo",
            "-t", "byed-demo:" + project_version()]
    with cache_lock():
        for args in (demo, ["-t", "byed"]):
            log("podman build", *args)
            podman("build", "--network", "host", *args, ROOT, timeout=1800)


def wait_until(predicate, timeout=60.0, interval=0.1, what="condition"):
    """The integration tests' wait_until, with deadlines for whole systems."""
    return _wait_until(predicate, timeout, interval, what)
