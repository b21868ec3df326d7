"""The controller as a real background process: commit latency, idle CPU, memory.

Every town is a demo town (reconciler.ops.scaffold.init_town(demo=True)) in a private temp
directory, with a temp HOME, SHELL=/bin/sh and no TMUX; the demo agent works fast
(GT_DEMO_DELAY 0.1 s). Each town's controller is started with `gt --town DIR start`
(which returns after the first pass), and every controller, tmux server and socket is
gone at the end, even on error, Ctrl-C, SIGTERM or SIGHUP (`gt shutdown`, then kill by
pid and kill-server if anything is left, then a check that nothing is).

latency  R fresh towns (--runs, default 5) with idle agents (GT_DEMO_MODE: idle) and the
         convoy manifest absent (committed). After `gt start`, the convoy manifest is
         written and `git commit`ed, and observe_sessions() polls the town's tmux server
         about every 10 ms until the first worker session is there. Median and max in ms,
         from the write and from `git commit` returning. The default Town manifest is used
         (interval 30 s, debounce 0.5 s): a commit is noticed by the file watcher, not by
         the interval. Two documented polling intervals are shown for context; they are
         constants from the projects' docs, not measured here.
idle     one more town, agents working (GT_DEMO_MODE unset), default 30 s interval: once the
         demo convoy is fully worked (4/4 merged, no sessions, InSync), the controller's
         utime+stime (/proc/<pid>/stat) over --idle-seconds (default 60), and the passes
         journaled in that window (.gt/controller.log, "pass done").
memory   VmRSS and VmHWM (/proc/<pid>/status) of the controller after the idle window,
         against a bare `python -c "import time; time.sleep(5)"` measured in the same run.

Usage: python bench/controller.py [--runs 5] [--idle-seconds 60]
(about 1.5-2 minutes with the defaults)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.clients.lock import holder_alive
from reconciler.clients.sessions import observe_sessions
from reconciler.clients.status_file import read_status
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town
from reconciler.ops.scaffold import init_town

POLL = 0.01
INTERVAL = 30.0  # the default Town manifest's controller interval, which these towns keep
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Documented polling intervals, for context only (not measured): the worst case for a
# poller to notice a commit is one full interval.
DOCUMENTED = (
    ("Gas Town daemon heartbeat", 180.0),
    ("Argo CD default poll", 180.0),
)


# -- processes and sockets ------------------------------------------------------------------

def gt_binary() -> str:
    here = Path(sys.executable).parent / "gt"
    return str(here) if here.exists() else shutil.which("gt") or "gt"


def proc_state(pid: int) -> str | None:
    """The process state letter, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()[0]


def alive(pid: int) -> bool:
    return proc_state(pid) not in (None, "Z", "X")  # a zombie has exited already


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime+stime, cutime+cstime) of ``pid`` in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text()
    rest = fields[fields.rindex(")") + 2:].split()
    # rest[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    return int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def memory_kib(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            values[key] = int(value.split()[0])
    return values


def socket_path(name: str) -> str:
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    return os.path.join(base, f"tmux-{os.getuid()}", name)


def server_answers(name: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(socket_path(name))
        except OSError:
            return False
    return True


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


# -- towns ----------------------------------------------------------------------------------

@dataclass
class BenchTown:
    root: Path
    socket: str
    pids: set[int] = field(default_factory=set)
    closed: bool = False

    @property
    def tmux(self) -> Tmux:
        return Tmux(self.socket)

    def gt(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([gt_binary(), "--town", str(self.root), *args], capture_output=True,
                              text=True, timeout=timeout, check=False)

    def start(self) -> int:
        done = self.gt("start")
        if done.returncode != 0:
            raise RuntimeError(f"gt start ({self.root.name}): {(done.stdout + done.stderr).strip()}")
        pid = holder_alive(self.root)
        if not pid or pid < 0:
            raise RuntimeError(f"gt start ({self.root.name}) returned but no controller holds the lock")
        self.pids.add(pid)
        return pid

    def journal(self) -> list[dict[str, Any]]:
        path = self.root / ".gt" / "controller.log"
        if not path.exists():
            return []
        entries = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries

    def passes(self) -> list[dict[str, Any]]:
        return [e for e in self.journal() if e.get("message") == "pass done"]

    def shutdown(self) -> list[str]:
        """Stop the controller and the tmux server; what could not be cleaned up, if anything."""
        if self.closed:
            return []
        self.closed = True
        problems = []
        try:
            done = self.gt("shutdown", "--grace", "1")
            if done.returncode != 0:
                problems.append(f"gt shutdown: {(done.stdout + done.stderr).strip()}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"gt shutdown: {exc}")
        holder = holder_alive(self.root) if self.root.exists() else None
        if holder and holder > 0:
            self.pids.add(holder)
        for pid in self.pids:
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                problems.append(f"controller pid {pid} outlived gt shutdown; killed")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                wait_until(lambda p=pid: not alive(p), 10, f"pid {pid} to die")
        return problems + self.sweep()

    def sweep(self) -> list[str]:
        """Kill the town's tmux server if it still answers; remove its socket file."""
        problems = []
        if server_answers(self.socket):
            problems.append(f"tmux server {self.socket} outlived gt shutdown; killed")
            self.tmux.kill_server()
            wait_until(lambda: not server_answers(self.socket), 10, f"tmux server {self.socket} to exit")
        if os.path.exists(socket_path(self.socket)):
            os.unlink(socket_path(self.socket))  # tmux 3.3a leaves the file after kill-server
        return problems


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, timeout=60)


def make_town(root: Path, *, idle_agents: bool, without_convoy: bool) -> tuple[BenchTown, str]:
    """A demo town; with ``without_convoy`` its convoy manifest is removed and that committed.
    Returns the town and the convoy manifest's text."""
    init_town(root, demo=True)
    env = "{GT_DEMO_DELAY: '0.1', GT_DEMO_MODE: idle}" if idle_agents else "{GT_DEMO_DELAY: '0.1'}"
    routing = root / "manifests" / "routing.yaml"
    text = routing.read_text()
    if "      ready:" not in text:
        raise RuntimeError("routing.yaml of the demo town no longer looks as expected")
    routing.write_text(text.replace("      ready:", f"      env: {env}\n      ready:"))
    convoy = root / "manifests" / "convoys" / "demo.yaml"
    saved = convoy.read_text()
    if without_convoy:
        convoy.unlink()
    git(root, "add", "-A", "manifests")
    git(root, "commit", "-q", "-m", "bench: town set up")
    return BenchTown(root, Town.load(root).desired.socket), saved


# -- measurements ---------------------------------------------------------------------------

@dataclass
class Latency:
    from_write: float        # ms, write of the convoy manifest -> first worker session
    from_commit: float       # ms, `git commit` returned -> first worker session
    commit: float            # ms, write + git add + git commit
    start: float             # ms, `gt start` (returns after the first pass)
    spawn_pass: float | None  # ms, the journaled duration of the pass that started workers
    sessions: int            # worker sessions seen at the first sighting
    passes_before: int       # passes journaled between `gt start` returning and the write


def worker_sessions(tmux: Tmux) -> int:
    return sum(1 for s in observe_sessions(tmux) if s.stamps.rig)


def measure_latency(town: BenchTown, convoy_text: str) -> Latency:
    t = time.perf_counter()
    town.start()
    start_ms = (time.perf_counter() - t) * 1000
    if worker_sessions(town.runtime.tmux):
        raise RuntimeError("worker sessions before the convoy was committed")
    time.sleep(1.0)  # let any pass the start itself caused finish (debounce is 0.5 s)
    passes_before = len(town.passes()) - 1
    convoy = town.root / "manifests" / "convoys" / "demo.yaml"
    written = time.perf_counter()
    convoy.write_text(convoy_text)
    git(town.root, "add", "-A", "manifests")
    git(town.root, "commit", "-q", "-m", "convoy demo")
    committed = time.perf_counter()
    deadline = committed + 30
    while (seen := worker_sessions(town.runtime.tmux)) == 0:
        if time.perf_counter() > deadline:
            raise RuntimeError("no worker session within 30 s of the commit")
        time.sleep(POLL)
    first = time.perf_counter()

    def spawn_pass() -> dict[str, Any] | None:
        return next((p for p in town.passes()[passes_before + 1:] if p.get("actions")), None)

    try:
        entry = wait_until(spawn_pass, 15, "the spawning pass to be journaled")
        spawn_ms = float(entry["duration"]) * 1000
    except RuntimeError:
        spawn_ms = None
    return Latency((first - written) * 1000, (first - committed) * 1000, (committed - written) * 1000,
                   start_ms, spawn_ms, seen, passes_before)


@dataclass
class Idle:
    pid: int
    seconds: float
    cpu: float             # s, utime+stime of the controller
    children_cpu: float    # s, cutime+cstime: the tmux and git processes it waited for
    passes: list[dict[str, Any]]
    memory: dict[str, int]
    converge: float        # s, gt start -> convoy fully worked
    state: str
    passes_to_converge: int
    baseline: dict[str, int]


def stamp(entry: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(entry["time"])).timestamp()


def measure_idle(town: BenchTown, seconds: float) -> Idle:
    t = time.monotonic()
    pid = town.start()

    def converged() -> str:
        status = read_status(town.root) or {}
        convoys = status.get("convoys") or [{}]
        if (convoys[0].get("done") == convoys[0].get("total") == 4
                and status.get("sync", {}).get("status") == "InSync"
                and worker_sessions(town.runtime.tmux) == 0):
            return f"convoy {convoys[0]['done']}/{convoys[0]['total']} done, InSync, 0 sessions"
        return ""

    state = wait_until(converged, 120, "the demo convoy to be fully worked", interval=0.2)
    converge = time.monotonic() - t
    time.sleep(2.0)  # let the pass that saw the last merge (and any it caused) finish
    if not alive(pid):
        raise RuntimeError("the controller exited")
    passes_to_converge = len(town.passes())
    log_before = len(town.journal())
    ticks0, child0 = cpu_ticks(pid)
    t0, wall0 = time.monotonic(), time.time()
    # The baseline runs inside the window: it touches nothing the controller watches.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(3.0)
        baseline = memory_kib(proc.pid)
    finally:
        proc.wait(timeout=10)
    time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    ticks1, child1 = cpu_ticks(pid)
    elapsed = time.monotonic() - t0
    memory = memory_kib(pid)
    window = [e for e in town.journal()[log_before:] if e.get("message") == "pass done"]
    for entry in window:
        entry["offset"] = stamp(entry) - wall0
    return Idle(pid, elapsed, (ticks1 - ticks0) / CLK_TCK, (child1 - child0) / CLK_TCK, window,
                memory, converge, state, passes_to_converge, baseline)


# -- report ---------------------------------------------------------------------------------

def summary(values: list[float]) -> tuple[str, str]:
    return f"{statistics.median(values):.0f}", f"{max(values):.0f}"


def print_latency(runs: list[Latency]) -> None:
    print(f"Commit to first worker session running ({len(runs)} fresh demo towns, default Town manifest:"
          " interval 30 s, debounce 0.5 s)")
    header = f"{'':58} {'median ms':>10} {'max ms':>10}"
    print(header)
    print("-" * len(header))
    rows = [
        ("write convoy + git commit -> first worker session", [r.from_write for r in runs]),
        ("git commit returned -> first worker session", [r.from_commit for r in runs]),
        ("  of which: write + git add + git commit", [r.commit for r in runs]),
        ("  the spawning pass (journaled duration)", [r.spawn_pass for r in runs if r.spawn_pass is not None]),
        ("gt start (returns after the first pass)", [r.start for r in runs]),
    ]
    for label, values in rows:
        median, high = summary(values) if values else ("-", "-")
        print(f"{label:58} {median:>10} {high:>10}")
    for label, interval in DOCUMENTED:
        value = f"{interval * 1000:.0f}"
        print(f"{label + ' (documented interval)':58} {value:>10} {'-':>10}")
    seen = sorted({r.sessions for r in runs})
    extra = sorted({r.passes_before for r in runs})
    print(f"(worker sessions at first sighting: {', '.join(map(str, seen))}; passes between gt start "
          f"returning and the write: {', '.join(map(str, extra))}; documented intervals are a poller's "
          "worst case, not measurements)")


def print_idle(idle: Idle) -> None:
    rss, hwm = idle.memory.get("VmRSS", 0), idle.memory.get("VmHWM", 0)
    base_rss, base_hwm = idle.baseline.get("VmRSS", 0), idle.baseline.get("VmHWM", 0)
    shown = [f"+{e['offset']:.1f} s" for e in idle.passes]
    offsets = ", ".join(shown if len(shown) <= 6 else [*shown[:4], "...", shown[-1]]) or "none"
    expected = idle.seconds / INTERVAL
    durations = [float(e.get("duration", 0)) * 1000 for e in idle.passes]
    gaps = [b["offset"] - a["offset"] for a, b in zip(idle.passes, idle.passes[1:])]
    acted = sum(1 for e in idle.passes if e.get("actions"))
    print(f"Idle controller (pid {idle.pid}, default 30 s interval): {idle.state}, "
          f"reached {idle.converge:.1f} s after gt start in {idle.passes_to_converge} passes")
    header = f"{'':46} {'value':>14}  notes"
    print(header)
    print("-" * (len(header) + 30))
    print(f"{'window':46} {idle.seconds:>12.1f} s")
    print(f"{'controller CPU (utime+stime)':46} {idle.cpu:>12.2f} s  "
          f"{idle.cpu / idle.seconds * 100:.2f} % of one core")
    print(f"{'  its children (cutime+cstime: tmux, git)':46} {idle.children_cpu:>12.2f} s  "
          f"{idle.children_cpu / idle.seconds * 100:.2f} % of one core")
    print(f"{'passes in the window':46} {len(idle.passes):>14}  at {offsets}; "
          f"{acted} with actions; the interval alone would give about {expected:.0f}")
    if durations:
        print(f"{'  pass duration':46} {statistics.median(durations):>11.0f} ms  median; max {max(durations):.0f} ms")
    if gaps:
        print(f"{'  gap between passes':46} {min(gaps):>12.1f} s  min; max {max(gaps):.1f} s")
    print(f"{'controller VmRSS after the window':46} {rss / 1024:>10.1f} MiB  "
          f"VmHWM {hwm / 1024:.1f} MiB; {idle.memory.get('Threads', 0)} threads")
    print(f"{'baseline: python -c time.sleep(5) VmRSS':46} {base_rss / 1024:>10.1f} MiB  "
          f"VmHWM {base_hwm / 1024:.1f} MiB (same interpreter, same run)")
    ratio = f"{rss / base_rss:.1f}x" if base_rss else "-"
    hwm_ratio = f"{hwm / base_hwm:.1f}x" if base_hwm else "-"
    print(f"{'RSS ratio controller / baseline':46} {ratio:>14}  VmHWM ratio {hwm_ratio}")


def busy_passes(passes: list[dict[str, Any]], interval: float) -> tuple[int, int]:
    """(passes, of them no-op passes sooner than the interval could explain) over a whole town."""
    quick = 0
    for a, b in itertools.pairwise(passes):
        if not b.get("actions") and stamp(b) - stamp(a) < interval * 0.85:
            quick += 1
    return len(passes), quick


# -- main -----------------------------------------------------------------------------------

def isolate(base: Path) -> None:
    home = base / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)
    os.environ["SHELL"] = "/bin/sh"
    for var in ("TMUX", "TMUX_PANE", "GT_TOWN", "GIT_DIR", "GIT_WORK_TREE"):
        os.environ.pop(var, None)
    os.environ.update({
        "GIT_AUTHOR_NAME": "gt-bench", "GIT_AUTHOR_EMAIL": "gt-bench@localhost",
        "GIT_COMMITTER_NAME": "gt-bench", "GIT_COMMITTER_EMAIL": "gt-bench@localhost",
        "GIT_CONFIG_NOSYSTEM": "1",
    })


def strays(base: Path) -> list[int]:
    """Processes whose command line or working directory is inside ``base``: only ours."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if (str(base) in cmdline or cwd == str(base) or cwd.startswith(str(base) + "/")) \
                and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def private_base(prefix: str) -> Path:
    """The setup every benchmark shares: tmux and git there, a signal ends the run through its
    cleanup, and a private temp directory and environment (returned) to run in."""
    for tool in ("tmux", "git"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found on PATH")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    base = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
    isolate(base)
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh towns for the latency (default 5)")
    parser.add_argument("--idle-seconds", type=float, default=60.0,
                        help="length of the idle CPU window (default 60)")
    args = parser.parse_args()
    if args.runs < 1 or args.idle_seconds < 5:
        parser.error("--runs must be at least 1 and --idle-seconds at least 5")
    base = private_base("gt-bench-ctl-")
    towns: list[BenchTown] = []
    problems: list[str] = []
    latencies: list[Latency] = []
    idle: Idle | None = None
    quick: list[tuple[str, int, int]] = []
    began = time.monotonic()
    try:
        for i in range(args.runs):
            town, convoy_text = make_town(base / f"lat{i + 1}", idle_agents=True, without_convoy=True)
            towns.append(town)
            try:
                latencies.append(measure_latency(town, convoy_text))
                time.sleep(0.6)  # let the passes the new sessions cause be journaled
                quick.append((town.root.name, *busy_passes(town.passes(), INTERVAL)))
            finally:
                problems += town.shutdown()  # before the next town: no agents left running
        town, _ = make_town(base / "idle", idle_agents=False, without_convoy=False)
        towns.append(town)
        try:
            idle = measure_idle(town, args.idle_seconds)
            quick.append((town.root.name, *busy_passes(town.passes(), INTERVAL)))
        finally:
            problems += town.shutdown()
    finally:
        for town in towns:  # those an error or a signal left running
            try:
                problems += town.shutdown()
            except Exception as exc:  # noqa: BLE001 - keep cleaning the others
                problems.append(f"{town.root.name}: cleanup failed: {exc}")
        for pid in strays(base):  # e.g. a controller spawned by a `gt start` cut short
            problems.append(f"stray process {pid} under {base}; killed")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for town in towns:
            try:
                problems += town.sweep()
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{town.root.name}: sweep failed: {exc}")
        left = [t.socket for t in towns if server_answers(t.socket) or os.path.exists(socket_path(t.socket))]
        shutil.rmtree(base, ignore_errors=True)
        if left:
            print(f"tmux sockets still present: {', '.join(left)}", file=sys.stderr)
        if sys.exc_info()[0] is not None and problems:  # the tables will not be printed
            print(f"cleanup: {'; '.join(dict.fromkeys(problems))}", file=sys.stderr)

    version = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"{version}, Python {sys.version.split()[0]}, {os.cpu_count()} cpus, gt {gt_binary()}")
    print()
    print_latency(latencies)
    print()
    if idle is not None:
        print_idle(idle)
        print()
    print("Passes per town, whole life: those without actions that came sooner than 85 % of the "
          "interval after the previous pass were woken by an event and found nothing to do")
    for name, total, fast in quick:
        print(f"  {name:6} {total:4d} passes, {fast:4d} of them event-woken with nothing to do")
    print(f"cleanup: {'; '.join(dict.fromkeys(problems)) or 'gt shutdown stopped every controller and tmux server'}; "
          f"sockets left: {', '.join(left) if left else 'none'}; "
          f"processes left: {len(strays(base))}; total {time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    main()
