"""The static build's libuv stand-ins (src/shell/static_standins.cc) hold only
while byed calls the libuv functions they were checked against: a new uv_
call must be checked (follow it through libuv's objects: it must reach none
of the stand-ins) and then added here."""

import os
import re
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# The calls whose paths through libuv reach none of the stand-ins.
CHECKED = {
    "uv_close",
    "uv_loop_close",
    "uv_loop_init",
    "uv_poll_init",
    "uv_poll_start",
    "uv_poll_stop",
    "uv_run",
    "uv_stop",
    "uv_strerror",
    "uv_timer_init",
    "uv_timer_start",
    "uv_timer_stop",  # timer.c: no call out of the object
}


def uv_functions_used():
    """Every uv_ name in byed's sources that is not a type, comments and
    includes left out (function pointers count: uv_poll_init is passed, not
    called)."""
    used = {}
    for top, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in files:
            if not name.endswith((".cc", ".h")) or name == "static_standins.cc":
                continue
            path = os.path.join(top, name)
            with open(path) as f:
                for line in f:
                    code = line.split("//", 1)[0]
                    if code.lstrip().startswith("#include"):
                        continue
                    for m in re.finditer(r"\buv_[a-z0-9_]+\b", code):
                        if not m.group(0).endswith("_t"):
                            used.setdefault(m.group(0), os.path.relpath(path, ROOT))
    return used


class StandinTests(unittest.TestCase):
    def test_byed_calls_only_the_checked_libuv_functions(self):
        used = uv_functions_used()
        new = {f: where for f, where in used.items() if f not in CHECKED}
        self.assertEqual(new, {}, "check these against static_standins.cc")
        # The scan sees the calls it must see.
        self.assertIn("uv_run", used)
        self.assertIn("uv_poll_init", used)


if __name__ == "__main__":
    unittest.main()
