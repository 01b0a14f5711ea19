#!/usr/bin/env python3
"""Mutation check of byed's pure core: which one-line bugs no core test sees.

Each mutation is one small change to a source file of the core (every
src/core/*.cc: the supervisor, the grammar of the command line and of each
value, signals, the accepting probe's parsers, the child log's formats),
generated from the source (so the list never rots):

  remove    an action is no longer emitted: `out.push_back(...)`,
            `out.emplace_back(...)`, a call that passes `out` on (`drain(out,
            ...)`, `begin_stop(out, ...)`), a warning or error log line,
            a value added to a result (`out.push_back(sig)`) -> `{}`
  flip      a comparison or logic operator: == <-> !=, && <-> ||,
            < -> <=, <= -> <, > -> >=, >= -> >
  negate    `!x` -> `x`, and `if (c)` / `while (c)` -> `if (!(c))`
  constant  an integer literal: 0 -> 1, 1 -> 0, n -> n+1; true <-> false

Nothing inside a log message is mutated (wording, fields), nor info and
debug log lines themselves. Two classes of mutation are left out because
they are equivalent by construction: the argument of a `reserve()` call (a
capacity hint, no value changes) and a local array's bound made larger (a
buffer read back through sizeof or std::size only gains spare room).

For each mutation, one at a time, it rebuilds only the core tests
(byed_core_tests, which link the pure core alone) and runs them: a failing,
crashing or hanging run kills the mutation; one that passes survives. A
mutation that does not compile (-Werror) is not counted. The real tree is
never touched: src/, tests/ and CMakeLists.txt are copied into a temporary
directory (one copy per job) and mutated there; the copies are removed at
the end, also on Ctrl-C.

The report (stdout) is the score, then each surviving mutation as
`FILE:LINE: ORIGINAL -> MUTATED`, grouped by function; every other line
starts with '#', so a saved report is a list for --list. Progress goes to
stderr.

  tests/mutation/run.py                  # all mutations, one job
  tests/mutation/run.py --jobs 2 > out   # two builds at a time
  tests/mutation/run.py --list out       # only those in out (the survivors)
  tests/mutation/run.py --print          # list the mutations, build nothing
  tests/mutation/run.py --limit 50       # a sample (fixed --seed)

Python 3 standard library only; needs cmake and a C++ compiler, and uses
ccache when it is installed (a second run recompiles only what changed),
ninja and lld when they are.
"""

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE_DIR = "src/core"


def core_files(root):
    """Every source file of the pure core, the supervisor first."""
    names = sorted(n for n in os.listdir(os.path.join(root, CORE_DIR))
                   if n.endswith(".cc"))
    names.sort(key=lambda n: n != "supervisor.cc")
    return [f"{CORE_DIR}/{n}" for n in names]
KINDS = ["remove", "flip", "negate", "constant"]
TEST_TARGET = "byed_core_tests"


@dataclass(frozen=True)
class Mutation:
    file: str  # relative to the source root
    line: int  # 1-based, where the change starts
    start: int  # offsets in the file's text: [start, end) becomes replacement
    end: int
    replacement: str
    kind: str
    function: str
    original: str  # the changed line(s), whitespace collapsed
    mutated: str

    def text(self):
        return f"{self.original} -> {self.mutated}"

    def describe(self):
        return f"{self.file}:{self.line}: {self.text()}"


# ---- generating mutations from the source ----------------------------------


def code_mask(text):
    """1 for each character of code; 0 in comments, string and character
    literals, and preprocessor lines."""
    mask = bytearray(len(text))
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start:
            j = i
            while j < n and text[j] in " \t":
                j += 1
            if j < n and text[j] == "#":  # a directive, with continuations
                while i < n and not (text[i] == "\n" and text[i - 1] != "\\"):
                    i += 1
                continue
        line_start = c == "\n"
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif text.startswith('R"', i) and (i == 0 or not _ident(text[i - 1])):
            paren = text.find("(", i)
            delim = text[i + 2 : paren]
            end = text.find(")" + delim + '"', paren)
            i = n if end < 0 else end + len(delim) + 2
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        else:
            mask[i] = 1
            i += 1
    return mask


def _ident(c):
    return c.isalnum() or c == "_"


def matching_paren(text, mask, open_at):
    """Offset of the ')' that closes the '(' at open_at, or -1."""
    depth = 0
    for i in range(open_at, len(text)):
        if not mask[i]:
            continue
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


FUNCTION_RE = re.compile(
    r"^(?!namespace\b|struct\b|class\b|using\b|return\b)[A-Za-z_][^;{}()=]*?"
    r"\b([A-Za-z_~][\w:~]*)\s*\("
)


def functions_by_line(lines):
    """The function each line is in: clang-format puts every definition's
    first line at column 0 and its body below, indented."""
    names, current = [], "(file scope)"
    for line in lines:
        m = FUNCTION_RE.match(line)
        if m:
            current = m.group(1)
        elif line.startswith("}") and not line.startswith("}  // namespace"):
            names.append(current)
            current = "(file scope)"
            continue
        names.append(current)
    return names


FLIPS = {"==": "!=", "!=": "==", "&&": "||", "||": "&&",
         "<": "<=", "<=": "<", ">": ">=", ">=": ">"}
BINARY_RE = re.compile(r"(?<= )(==|!=|&&|\|\||<=|>=|<|>)(?= )")
NOT_RE = re.compile(r"!(?!=)")
COND_RE = re.compile(r"\b(?:if|while) \(")
NUMBER_RE = re.compile(r"(?<![\w.'])(\d+)(?![\w.'])")
ARRAY_DECL_RE = re.compile(
    r"(?<![\w:])(?!(?:return|case|throw|else|delete)\b)[A-Za-z_][\w:<>]*"
    r"[*&]?\s+[*&]?[A-Za-z_]\w*\[$")
BOOL_RE = re.compile(r"\b(true|false)\b")
ACTION_RE = re.compile(
    r"\bout\.(?:push_back|emplace_back)\(|(?<![\w.>:])([a-z_]\w*)\(out(?=[,)])")
LOG_KEEP_RE = re.compile(r"\s*LogLevel::k(?:Warn|Error)\b")


def generate(root, rel):
    text = open(os.path.join(root, rel), encoding="utf-8").read()
    mask = code_mask(text)
    lines = text.split("\n")
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line) + 1)
    funcs = functions_by_line(lines)

    def line_of(offset):
        lo, hi = 0, len(lines) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if line_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def is_code(a, b):
        return all(mask[a:b])

    # Log calls: their arguments (wording, fields) are not mutated.
    unmutated_spans = []
    for m in re.finditer(r"(?<![\w.>:])log\(out,", text):
        if mask[m.start()]:
            unmutated_spans.append((m.start(), matching_paren(text, mask, m.end() - 5)))

    # A capacity hint (`s.reserve(n + 64)`) changes no value the program
    # computes, only when it allocates: mutating it is equivalent.
    for m in re.finditer(r"\.reserve\(", text):
        if mask[m.start()]:
            unmutated_spans.append((m.start(), matching_paren(text, mask, m.end() - 1)))

    def in_log(offset):
        return any(a <= offset <= b for a, b in unmutated_spans)

    found = {}

    def add(kind, start, end, replacement):
        first, last = line_of(start), line_of(max(start, end - 1))
        a, b = line_starts[first], line_starts[last + 1] - 1
        before = " ".join(text[a:b].split())
        after = " ".join((text[a:start] + replacement + text[end:b]).split())
        if before == after:
            return
        m = Mutation(rel, first + 1, start, end, replacement, kind,
                     funcs[first], before, after)
        found.setdefault((start, end, replacement), m)

    # remove: a statement that emits actions.
    for m in ACTION_RE.finditer(text):
        s = m.start()
        if not mask[s] or in_log(s) and m.group(1) != "log":
            continue
        if m.group(1) == "log" and not LOG_KEEP_RE.match(text, m.end() + 1):
            continue
        close = matching_paren(text, mask, m.end() - (1 if m.group(1) is None else 4))
        if close < 0:
            continue
        semi = close + 1
        while semi < len(text) and text[semi] in " \t\n":
            semi += 1
        if semi >= len(text) or text[semi] != ";":
            continue  # part of an expression, not a statement
        head = text[line_starts[line_of(s)] : s].strip()
        if head and not (head.endswith((")", "{", "}")) or head == "else"):
            continue  # `return f(out)`, `x = f(out)`: not a lone action
        add("remove", s, semi + 1, "{}")

    # flip: binary operators.
    for m in BINARY_RE.finditer(text):
        if is_code(m.start(), m.end()) and not in_log(m.start()):
            add("flip", m.start(), m.end(), FLIPS[m.group(1)])

    # negate: drop a `!`, negate a whole condition.
    for m in NOT_RE.finditer(text):
        if mask[m.start()] and not in_log(m.start()):
            add("negate", m.start(), m.end(), "")
    for m in COND_RE.finditer(text):
        if not mask[m.start()] or in_log(m.start()):
            continue
        open_at = m.end() - 1
        close = matching_paren(text, mask, open_at)
        if close < 0:
            continue
        cond_start = open_at + 1
        semi = text.rfind(";", cond_start, close)  # if (init; cond)
        if semi >= 0 and mask[semi]:
            cond_start = semi + 1
        while text[cond_start] in " \t\n":
            cond_start += 1
        cond = text[cond_start:close]
        if cond.startswith("!"):
            continue  # dropping the `!` does the same
        if re.match(r"(?:const )?[\w:<>]+[*& ]+\w+ = ", cond):
            continue  # `if (T* x = f())`: a declaration, no expression
        ops = [b.group(1) for b in BINARY_RE.finditer(cond)]
        if len(ops) == 1 and ops[0] in ("==", "!="):
            continue  # flipping the operator does the same
        add("negate", cond_start, close, "!(" + cond + ")")

    # constant: integer and bool literals. Not the bound of an array
    # declaration made larger: a buffer's capacity, read back through
    # sizeof or std::size, that was large enough is large enough with one
    # more element (an equivalent mutation). A bound that must match
    # another literal is a bug of its own: write sizeof/std::size there.
    def is_array_bound(start, end):
        head = text[line_starts[line_of(start)] : start]
        return (ARRAY_DECL_RE.search(head) is not None
                and re.match(r"\]\s*[;={\[]", text[end:]) is not None)

    for m in NUMBER_RE.finditer(text):
        if not is_code(m.start(), m.end()) or in_log(m.start()):
            continue
        n = int(m.group(1))
        new = {0: 1, 1: 0}.get(n, n + 1)
        if new > n and is_array_bound(m.start(), m.end()):
            continue  # `char buf[64]` -> [65]: only spare room (see below)
        add("constant", m.start(), m.end(), str(new))
    for m in BOOL_RE.finditer(text):
        if is_code(m.start(), m.end()) and not in_log(m.start()):
            add("constant", m.start(), m.end(),
                "false" if m.group(1) == "true" else "true")

    return text, sorted(found.values(), key=lambda m: (m.start, m.end, m.replacement))


LIST_RE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<text>.*\S)\s*$")


def select_listed(mutations, path):
    """The mutations named in a list file (lines as the report prints them).
    A line matches on file and text; when the text occurs more than once,
    the line number picks one."""
    by_text = {}
    for m in mutations:
        by_text.setdefault((m.file, m.text()), []).append(m)
    chosen, missing = {}, []
    for raw in open(path, encoding="utf-8"):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        e = LIST_RE.match(raw.rstrip("\n"))
        if not e:
            sys.exit(f"{path}: cannot read: {raw.rstrip()}")
        same = by_text.get((e["file"], e["text"]), [])
        exact = [m for m in same if m.line == int(e["line"])]
        if not same:
            missing.append(raw.strip())
        for m in exact or same:
            chosen[(m.file, m.start, m.end, m.replacement)] = m
    for line in missing:
        print(f"warning: not in the source any more: {line}", file=sys.stderr)
    return sorted(chosen.values(), key=lambda m: (m.file, m.start))


# ---- building and running ---------------------------------------------------

_procs = set()
_procs_lock = threading.Lock()
_stopping = threading.Event()


class Interrupted(Exception):
    pass


def run(cmd, timeout=None, **kw):
    """Runs cmd in a process group of its own (so a Ctrl-C can end all of
    it); returns (returncode or None on timeout, output)."""
    if _stopping.is_set():
        raise Interrupted()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True, **kw)
    with _procs_lock:
        _procs.add(p)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        kill_group(p)
        p.communicate()
        return None, ""
    finally:
        with _procs_lock:
            _procs.discard(p)
        if _stopping.is_set():
            raise Interrupted()


def kill_group(p):
    """Kills p and everything it started. Ninja runs each compiler in a
    process group of its own, so the whole session goes (p leads it)."""
    for _ in range(3):
        pids = [p.pid]
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                if int(fields[3]) == p.pid:  # the session id
                    pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def kill_all():
    with _procs_lock:
        for p in list(_procs):
            kill_group(p)


class Worker:
    """A copy of the tree with its own build directory."""

    def __init__(self, index, args, workdir, sources):
        self.dir = os.path.join(workdir, f"job{index}")
        self.build = os.path.join(self.dir, "build")
        self.args = args
        self.sources = sources  # rel -> original text
        self.dirty = None  # the file that holds a mutation now
        self.env = dict(os.environ, CCACHE_BASEDIR=self.dir, CCACHE_NOHASHDIR="1")
        self.test_time = 0.0

    def setup(self):
        os.makedirs(self.dir)
        # shutil.copy, not copy2: every file gets a new mtime, so that make
        # never takes an object built from a mutant as up to date.
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build*")
        shutil.copy(os.path.join(self.args.source, "CMakeLists.txt"), self.dir)
        for sub in ("src", "tests"):
            shutil.copytree(os.path.join(self.args.source, sub),
                            os.path.join(self.dir, sub),
                            copy_function=shutil.copy, ignore=ignore)
        cmd = ["cmake", "-S", self.dir, "-B", self.build,
               "-DCMAKE_BUILD_TYPE=Mutation",  # no flags: -O0, no -g
               "-DBYED_STATIC=OFF", "-DBYED_SANITIZE=OFF", "-DBYED_BENCH=OFF",
               "-DBYED_DEPLOY_TESTS=OFF", "-DBYED_MUTATION_TESTS=OFF",
               # `a || b && c` is as much a bug as `a || (b && c)`: the style
               # warning must not make a flipped operator unbuildable.
               "-DCMAKE_CXX_FLAGS=-Wno-parentheses"]
        if shutil.which("ninja"):
            cmd += ["-G", "Ninja"]
        if shutil.which("ld.lld"):
            # Each mutation relinks the core tests: lld does it in a quarter
            # of the time of GNU ld.
            cmd += ["-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld"]
        if self.args.ccache:
            cmd += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"]
        cmd += self.args.cmake_arg
        rc, out = run(cmd, env=self.env)
        if rc != 0:
            raise RuntimeError(f"cmake configure failed:\n{out}")
        rc, out = self.make()
        if rc != 0:
            raise RuntimeError(f"the unmutated core tests do not build:\n{out}")
        t = time.monotonic()
        rc, out = self.test(timeout=600)
        self.test_time = time.monotonic() - t
        if rc != 0:
            raise RuntimeError(f"the unmutated core tests fail:\n{out}")

    def make(self):
        return run(["cmake", "--build", self.build, "--target", TEST_TARGET,
                    "-j1"], env=self.env)

    def test(self, timeout):
        exe = os.path.join(self.build, "tests", TEST_TARGET)
        return run([exe, "--no-version", "--abort-after=1"], timeout=timeout,
                   cwd=self.build)

    def write(self, rel, text):
        with open(os.path.join(self.dir, rel), "w", encoding="utf-8") as f:
            f.write(text)

    def try_mutation(self, m, timeout):
        if self.dirty and self.dirty != m.file:
            self.write(self.dirty, self.sources[self.dirty])
        original = self.sources[m.file]
        self.write(m.file, original[: m.start] + m.replacement + original[m.end :])
        self.dirty = m.file
        rc, out = self.make()
        if rc != 0:
            return "build error", out
        rc, out = self.test(timeout)
        if rc is None:
            return "killed (timeout)", out
        return ("survived" if rc == 0 else "killed"), out


# ---- the report --------------------------------------------------------------


def report(results, total, elapsed, args, complete):
    killed = [m for m, r in results if r.startswith("killed")]
    survived = [m for m, r in results if r == "survived"]
    broken = [m for m, r in results if r == "build error"]
    counted = len(killed) + len(survived)
    score = 100.0 * len(killed) / counted if counted else 0.0
    print(f"# byed mutation check of {', '.join(args.files)}")
    if not complete:
        print(f"# INTERRUPTED: {len(results)} of {total} mutations tried")
    print(f"# {len(results)} mutations: {len(killed)} killed, "
          f"{len(survived)} survived, {len(broken)} rejected by the compiler (not counted)")
    print(f"# score: {len(killed)}/{counted} = {score:.1f}%")
    print(f"# time: {int(elapsed // 60)}m{int(elapsed % 60):02d}s, "
          f"{args.jobs} job(s)")
    if len(args.files) > 1:
        for file in args.files:
            k = sum(m.file == file for m in killed)
            n = k + sum(m.file == file for m in survived)
            if n:
                print(f"#   {file}: {k}/{n} = {100.0 * k / n:.1f}%")
    if survived:
        print("#\n# surviving mutations, by function:")
    groups = {}
    for m in survived:
        groups.setdefault((m.file, m.function), []).append(m)
    per_function = {}
    for m, _ in results:
        per_function[(m.file, m.function)] = per_function.get((m.file, m.function), 0) + 1
    for (file, func), ms in sorted(groups.items(), key=lambda kv: kv[1][0].start
                                   + 10**9 * args.files.index(kv[0][0])):
        print(f"#\n# {file} {func}: {len(ms)} of "
              f"{per_function[(file, func)]} survive")
        for m in sorted(ms, key=lambda m: m.start):
            print(m.describe())
    if broken and args.verbose:
        print("#\n# rejected by the compiler:")
        for m in broken:
            print(f"# {m.describe()}")
    return score, counted


def main():
    p = argparse.ArgumentParser(
        description="Mutation check of byed's pure core (see the docstring).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=ROOT, help="the source tree (default: this one)")
    p.add_argument("--files", nargs="+",
                   help="files to mutate, relative to --source (default: "
                        f"every {CORE_DIR}/*.cc)")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help="kinds of mutation, comma-separated: " + ", ".join(KINDS))
    p.add_argument("--list", metavar="FILE",
                   help="only the mutations listed in FILE (lines as reported)")
    p.add_argument("--limit", type=int, metavar="N",
                   help="only N mutations, sampled with --seed")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", "-j", type=int, default=1,
                   help="mutations built and tested at a time (one tree copy each)")
    p.add_argument("--timeout", type=float,
                   help="seconds a test run may take (default: 20 times the "
                        "unmutated run, at least 30)")
    p.add_argument("--min-score", type=float, default=0.0, metavar="PERCENT",
                   help="exit 1 when the score is below this")
    p.add_argument("--print", action="store_true",
                   help="print the mutations and exit, build nothing")
    p.add_argument("--no-ccache", dest="ccache", action="store_false")
    p.add_argument("--cmake-arg", action="append", default=[],
                   help="an extra argument for cmake's configure step")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="print each result, and the build errors")
    args = p.parse_args()
    args.source = os.path.abspath(args.source)
    args.files = args.files or core_files(args.source)
    args.ccache = args.ccache and shutil.which("ccache") is not None
    kinds = set(args.kinds.split(","))
    if not kinds <= set(KINDS):
        p.error(f"--kinds: expected some of {', '.join(KINDS)}")

    sources, mutations = {}, []
    for rel in args.files:
        text, ms = generate(args.source, rel)
        sources[rel] = text
        mutations += [m for m in ms if m.kind in kinds]
    if args.list:
        mutations = select_listed(mutations, args.list)
    if args.limit is not None and args.limit < len(mutations):
        picked = set(random.Random(args.seed).sample(range(len(mutations)), args.limit))
        mutations = [m for i, m in enumerate(mutations) if i in picked]
    if args.print:
        for m in mutations:
            print(f"{m.describe()}    # {m.kind}, {m.function}")
        counts = {k: sum(m.kind == k for m in mutations) for k in KINDS}
        print(f"# {len(mutations)} mutations: "
              + ", ".join(f"{n} {k}" for k, n in counts.items()))
        return 0
    if not mutations:
        print("# no mutations to try")
        return 0

    def interrupt(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:  # not under nohup
        signal.signal(signal.SIGHUP, interrupt)

    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="byed-mutation-")
    results, lock = [], threading.Lock()
    todo = list(mutations)
    errors = []
    complete = False
    try:
        jobs = max(1, min(args.jobs, len(mutations)))
        args.jobs = jobs
        print(f"setting up {jobs} build(s) in {workdir}"
              f"{' with ccache' if args.ccache else ''}", file=sys.stderr)
        workers = [Worker(i, args, workdir, sources) for i in range(jobs)]
        # The first alone: the others then find its objects in ccache.
        workers[0].setup()
        rest = [threading.Thread(target=w.setup) for w in workers[1:]]
        for t in rest:
            t.start()
        for t in rest:
            t.join()
        for w in workers[1:]:
            if not os.path.exists(os.path.join(w.build, "tests", TEST_TARGET)):
                raise RuntimeError("setting up a parallel build failed")
        timeout = args.timeout or max(30.0, 20 * workers[0].test_time)
        print(f"{len(mutations)} mutations; the unmutated tests pass in "
              f"{workers[0].test_time:.2f}s", file=sys.stderr)

        def work(w):
            try:
                while True:
                    with lock:
                        if not todo or _stopping.is_set():
                            return
                        m = todo.pop(0)
                    result, out = w.try_mutation(m, timeout)
                    with lock:
                        results.append((m, result))
                        done = len(results)
                    if args.verbose:
                        print(f"[{done}/{len(mutations)}] {result}: {m.describe()}",
                              file=sys.stderr)
                        if result == "build error":
                            print(out[-2000:], file=sys.stderr)
                    elif done % 10 == 0 or done == len(mutations):
                        print(f"[{done}/{len(mutations)}]", file=sys.stderr)
            except Interrupted:
                return
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)
                _stopping.set()

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.2)
        if errors:
            raise errors[0]
        complete = True
    except KeyboardInterrupt:
        print("interrupted: stopping the builds", file=sys.stderr)
    finally:
        _stopping.set()
        kill_all()
        for t in threading.enumerate():
            if t is not threading.current_thread():
                t.join()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    order = {id(m): i for i, m in enumerate(mutations)}
    results.sort(key=lambda r: order[id(r[0])])
    score, counted = report(results, len(mutations), time.monotonic() - started,
                            args, complete)
    if not complete:
        return 130
    if counted and score < args.min_score:
        print(f"# FAIL: score {score:.1f}% is below {args.min_score}%")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        sys.exit(f"mutation check: {e}")
