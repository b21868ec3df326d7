"""Spawning and observing worker sessions: gt's batched tmux calls against serial libtmux.

Two cases, each measured in the same run on private tmux servers (sockets named
``gt-bench-<pid>-<n>``, every one killed at the end, even on error or Ctrl-C):

spawn    N workers, each a session with cwd, env vars (-e), ``sleep 600`` and @gt_* stamps,
         exactly those start_commands() emits (8 env vars and 7 stamps when this was written).
         gt run_groups   what TmuxRuntime.start sends: a first group [start-server,
                         set-option -g remain-on-exit on], then one group per worker,
                         start_commands(spec, generation), all given to Tmux.run_groups (which
                         packs whole groups into as few tmux invocations as fit BATCH_BYTES,
                         below tmux's 16 KiB command-line limit), then one observe_sessions()
                         to confirm every generation and fingerprint stamp. (The executor's
                         own observe_sessions() before the batch, which finds sessions to
                         replace, is not part of this row: one more list-panes call.)
         libtmux serial  per worker server.new_session(...) and one session.set_option(...)
                         per stamp, then server.sessions to confirm.
observe  N sessions carrying stamps (started untimed).
         gt              one observe_sessions() (one list-panes -a call).
         libtmux serial  server.sessions, then per session its first pane and each stamp
                         observe_sessions() reads (STAMP_OPTIONS) with session.show_option(...).
         libtmux show_options (--extras) the same, one session.show_options() per session.

"tmux processes" counts tmux invocations inside the timed region. For gt it is Tmux.calls;
for libtmux it is counted by wrapping libtmux.common.tmux_cmd.__init__ inside this script
(the wrapper counts gt's calls too, and they are cross-checked against Tmux.calls).
libtmux's one-time `tmux -V` (cached by libtmux) is warmed up before timing.
Wall ms is the median of --runs repetitions; repetitions of the variants are interleaved.

Usage: python bench/tmux_spawn.py [--workers 100] [--observe 200] [--runs 3] [--extras]
(about 35 s on an idle 2-core machine; --extras adds roughly 10 s)
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import libtmux
import libtmux.common

from reconciler.act.sessions import session_start
from reconciler.clients.sessions import STAMP_OPTIONS, observe_sessions
from reconciler.clients.tmux import BATCH_BYTES, Tmux
from reconciler.clients.tmux_runtime import create_commands
from reconciler.model.actions import WorkerSpec

COMMAND = ("sleep", "600")
# The executor's first group, ahead of the workers' (Executor._starts).
SERVER_GROUP = [["start-server"], ["set-option", "-g", "remain-on-exit", "on"]]


# -- counting tmux processes ----------------------------------------------------------------

class Count:
    processes = 0


def install_counter() -> None:
    """Count every tmux process libtmux starts (gt's Tmux goes through libtmux as well)."""
    cls = libtmux.common.tmux_cmd
    if getattr(cls.__init__, "_gt_bench", False):
        return
    original = cls.__init__

    @functools.wraps(original)
    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        Count.processes += 1
        original(self, *args, **kwargs)

    counting_init._gt_bench = True  # type: ignore[attr-defined]
    cls.__init__ = counting_init  # type: ignore[method-assign]


# -- private servers ------------------------------------------------------------------------

class Servers:
    """Hands out unique socket names and kills every server started on them."""

    def __init__(self) -> None:
        self.prefix = f"gt-bench-{os.getpid()}-"
        self.names: list[str] = []

    def new(self) -> str:
        name = f"{self.prefix}{len(self.names) + 1}"
        self.names.append(name)
        return name

    @staticmethod
    def path(name: str) -> str:
        directory = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}")
        return os.path.join(directory, name)

    def answers(self, name: str) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(self.path(name))
            except (ConnectionRefusedError, FileNotFoundError):
                return False
        return True

    def kill(self, name: str, wait: float = 5.0) -> None:
        """kill-server, then wait until the server has really gone (it returns at once)."""
        # Plain subprocess: neither counted nor timed. No server on the socket is fine.
        subprocess.run(["tmux", "-L", name, "kill-server"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        deadline = time.monotonic() + wait
        while self.answers(name) and time.monotonic() < deadline:
            time.sleep(0.02)

    def kill_all(self) -> None:
        for name in self.names:
            self.kill(name)

    def leftovers(self) -> list[str]:
        """Our sockets a server still answers on. tmux 3.3a leaves the socket file behind
        after kill-server; such dead files of ours are removed."""
        alive = []
        for name in self.names:
            if self.answers(name):
                alive.append(name)
            elif os.path.exists(self.path(name)):
                os.unlink(self.path(name))
        return alive


# -- workers --------------------------------------------------------------------------------

def hex16() -> str:
    """A fingerprint-like value with a letter in it: libtmux turns an all-digit option value
    into an int ("0123" reads back as 123), which would fail the cross-check by accident."""
    while (value := uuid.uuid4().hex[:16]).isdigit():
        pass
    return value


def make_specs(count: int, workdir: str, rig: str = "bench") -> list[WorkerSpec]:
    specs = []
    for i in range(count):
        worker, issue = f"w{i:03d}", f"gt-{i:04d}"
        env = (("BEADS_DIR", f"{workdir}/.beads"), ("GT_ISSUE", issue), ("GT_RIG", rig),
               ("GT_ROLE", f"{rig}/polecats/{worker}"), ("GT_WORKER", worker))
        specs.append(WorkerSpec(
            rig=rig, worker=worker, issue=issue, session=f"gt-{rig}-{worker}", repo=workdir,
            branch=f"gt/{worker}/{issue}", base_branch="main", worktree=workdir, agent="sleep",
            model="none", rule="default", command=COMMAND, env=env,
            fingerprint=hex16(), nudge="", beads_dir=f"{workdir}/.beads"))
    return specs


@dataclass(frozen=True)
class Launch:
    """What start_commands() asks tmux for, unpacked so libtmux can be asked for the same."""

    cwd: str
    env: dict[str, str]
    stamps: dict[str, str]  # option name (@gt_...) -> value


def start_commands(spec: WorkerSpec, generation: str) -> list[list[str]]:
    """The tmux commands TmuxRuntime.start gives for one worker."""
    return create_commands(session_start(spec, generation))


def launch_of(spec: WorkerSpec, generation: str) -> Launch:
    new, *stamps = start_commands(spec, generation)
    args = new[:new.index("--")]
    env = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-e")
    cwd = args[args.index("-c") + 1].replace("##", "#")
    return Launch(cwd, env, {c[3]: c[4] for c in stamps if c[0] == "set-option"})


def started(tmux: Tmux, specs: list[WorkerSpec], generation: str) -> int:
    """How many of ``specs`` are up with this generation and their fingerprint (one call)."""
    seen = {s.name: s for s in observe_sessions(tmux)}
    return sum(1 for spec in specs
               if (s := seen.get(spec.session)) is not None
               and s.stamps.generation == generation and s.stamps.fingerprint == spec.fingerprint)


# -- the variants ---------------------------------------------------------------------------
# Each returns (sessions confirmed, note); the caller times it and counts tmux processes.

def gt_spawn(tmux: Tmux, specs: list[WorkerSpec], generation: str) -> tuple[int, str]:
    """TmuxRuntime.start's batch: the server group, one group per worker, Tmux.run_groups,
    then one list-panes to confirm."""
    groups = [SERVER_GROUP, *(start_commands(spec, generation) for spec in specs)]
    results = tmux.run_groups(groups)
    errors = [r.error() for r in results if not r.ok]
    batches = f"{len(results)} tmux invocation{'s' if len(results) != 1 else ''} from run_groups"
    return started(tmux, specs, generation), "; ".join(errors) or batches


def libtmux_spawn(server: libtmux.Server, specs: list[WorkerSpec], generation: str) -> tuple[int, str]:
    for spec in specs:
        launch = launch_of(spec, generation)  # the same cwd, env and stamps gt sends
        session = server.new_session(
            session_name=spec.session, start_directory=launch.cwd, environment=launch.env,
            window_command=shlex.join(spec.command),  # a str only: tmux hands it to sh -c
            x=200, y=50)
        for option, value in launch.stamps.items():
            session.set_option(option, value)
    names = {s.session_name for s in server.sessions}
    return sum(1 for spec in specs if spec.session in names), ""


def text(value: Any) -> str:
    """One spelling for gt's parsed stamps and libtmux's converted option values."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def observe_key(name: str, pid: int, command: str, stamps: Mapping[str, Any]) -> tuple[str, ...]:
    return (name, str(pid), command, *(text(stamps.get(k)) for k in STAMP_OPTIONS))


def gt_observe(tmux: Tmux) -> list[tuple[str, ...]]:
    return [observe_key(s.name, s.pane_pid, s.command, {k: getattr(s.stamps, k) for k in STAMP_OPTIONS})
            for s in observe_sessions(tmux)]


def libtmux_observe_serial(server: libtmux.Server) -> list[tuple[str, ...]]:
    rows = []
    for session in server.sessions:
        pane = session.panes[0]  # one list-panes -s; session.active_pane would cost two calls
        stamps = {k: session.show_option(f"@gt_{k}", ignore_errors=True) for k in STAMP_OPTIONS}
        rows.append(observe_key(str(session.session_name), int(pane.pane_pid or 0),
                                str(pane.pane_current_command), stamps))
    return sorted(rows)


def libtmux_observe_options(server: libtmux.Server) -> list[tuple[str, ...]]:
    rows = []
    for session in server.sessions:
        pane = session.panes[0]
        options = session.show_options()
        stamps = {k: options.get(f"@gt_{k}", "") for k in STAMP_OPTIONS}
        rows.append(observe_key(str(session.session_name), int(pane.pane_pid or 0),
                                str(pane.pane_current_command), stamps))
    return sorted(rows)


# -- measuring ------------------------------------------------------------------------------

@dataclass
class Result:
    case: str
    label: str
    n: int
    gt: bool
    times: list[float] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")


T = TypeVar("T")


def timed(result: Result, body: Callable[[], T], tmux: Tmux | None = None) -> T:
    before, calls = Count.processes, tmux.calls if tmux else 0
    start = time.perf_counter()
    value = body()
    result.times.append((time.perf_counter() - start) * 1000)
    counted = Count.processes - before
    if tmux is not None:
        if tmux.calls - calls != counted:
            result.notes.add(f"Tmux.calls {tmux.calls - calls} != counted {counted}")
        counted = tmux.calls - calls
    result.processes.append(counted)
    return value


def bench_spawn(servers: Servers, workdir: str, n: int, runs: int) -> list[Result]:
    specs = make_specs(n, workdir)
    gt = Result("spawn", "gt run_groups", n, gt=True)
    serial = Result("spawn", "libtmux serial", n, gt=False)
    for _ in range(runs):
        name, generation = servers.new(), uuid.uuid4().hex[:12]
        try:
            tmux = Tmux(name)
            up, note = timed(gt, functools.partial(gt_spawn, tmux, specs, generation), tmux)
            if up != n:
                gt.problems.append(f"{up}/{n} up" + (f" ({note})" if note else ""))
            elif note:
                gt.notes.update(note.split("; "))
        finally:
            servers.kill(name)
        name, generation = servers.new(), uuid.uuid4().hex[:12]
        try:
            server = libtmux.Server(socket_name=name)
            up, _ = timed(serial, functools.partial(libtmux_spawn, server, specs, generation))
            stamped = started(Tmux(name), specs, generation)  # untimed: stamps really set?
            if up != n or stamped != n:
                serial.problems.append(f"{up}/{n} listed, {stamped}/{n} stamped")
        finally:
            servers.kill(name)
    return [r for r in (gt, serial) if r.times]


def bench_observe(servers: Servers, workdir: str, n: int, runs: int, extras: bool) -> list[Result]:
    specs = make_specs(n, workdir, rig="obs")
    gt = Result("observe", "gt", n, gt=True)
    serial = Result("observe", "libtmux serial", n, gt=False)
    options = Result("observe", "libtmux show_options", n, gt=False)
    screens = Result("observe", "gt + pane text", n, gt=False)  # what a controller pass reads
    name, generation = servers.new(), uuid.uuid4().hex[:12]
    try:
        tmux = Tmux(name)
        gt_spawn(tmux, specs, generation)  # untimed setup
        if started(tmux, specs, generation) != n:
            raise SystemExit(f"observe setup: not all {n} sessions came up")
        server = libtmux.Server(socket_name=name)
        for _ in range(runs):
            truth = timed(gt, functools.partial(gt_observe, tmux), tmux)
            if len(truth) != n:
                gt.problems.append(f"{len(truth)}/{n} seen")
            read = timed(screens, functools.partial(observe_sessions, tmux, screens=True), tmux)
            if sum(1 for s in read if s.screen is not None) != n:
                screens.problems.append("not every pane was read")
            variants = [(serial, libtmux_observe_serial), (options, libtmux_observe_options)]
            for result, observe in variants[:2 if extras else 1]:
                rows = timed(result, functools.partial(observe, server))
                if rows != truth:
                    pairs = [(a, b) for a, b in zip(rows, truth) if a != b]
                    differ = len(pairs) + abs(len(rows) - len(truth))
                    first = f": {pairs[0][0]} vs gt {pairs[0][1]}" if pairs else ""
                    result.problems.append(f"{differ} rows differ from gt{first}")
    finally:
        servers.kill(name)
    return [r for r in (gt, screens, serial, options) if r.times]


def print_table(results: list[Result]) -> None:
    header = f"{'case':8} {'variant':22} {'N':>4} {'tmux processes':>15} {'wall ms':>9} {'x gt':>7}  status"
    print(header)
    print("-" * len(header))
    for case in dict.fromkeys(r.case for r in results):
        rows = [r for r in results if r.case == case]
        ref = next((r for r in rows if r.gt and r.ok), None)
        for r in rows:
            low, high = min(r.processes), max(r.processes)
            processes = str(low) if low == high else f"{low}-{high}"
            ratio = f"{r.median / ref.median:7.2f}" if ref and r.ok else f"{'-':>7}"
            status = "ok" if r.ok else "FAIL " + "; ".join(dict.fromkeys(r.problems))
            if r is ref:
                status += " (x gt reference)"
            if r.notes:
                status += " [" + "; ".join(sorted(r.notes)) + "]"
            print(f"{case:8} {r.label:22} {r.n:4d} {processes:>15} {r.median:9.1f} {ratio}  {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=100, help="sessions to spawn (default 100)")
    parser.add_argument("--observe", type=int, default=200, help="sessions to observe (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions, median reported (default 3)")
    parser.add_argument("--extras", action="store_true",
                        help='also "libtmux show_options" (observe)')
    args = parser.parse_args()
    if min(args.workers, args.observe, args.runs) < 1:
        parser.error("--workers, --observe and --runs must be at least 1")
    if shutil.which("tmux") is None:
        raise SystemExit("tmux not found on PATH")

    os.environ["SHELL"] = "/bin/sh"  # inherited by every tmux client and server started below
    os.environ.pop("TMUX", None)
    # Ctrl-C raises KeyboardInterrupt already; make TERM and HUP unwind through `finally` too.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    install_counter()
    servers = Servers()
    # libtmux caches `tmux -V` per call shape (functools.cache): warm the shape its
    # new_session and list queries use, so that one process is paid outside the timings.
    libtmux.common.get_version(tmux_bin=libtmux.Server(socket_name=servers.new()).tmux_bin)

    workdir = tempfile.mkdtemp(prefix="gt-bench-")
    started_at = time.perf_counter()
    try:
        results = bench_spawn(servers, workdir, args.workers, args.runs)
        results += bench_observe(servers, workdir, args.observe, args.runs, args.extras)
    finally:
        servers.kill_all()
        shutil.rmtree(workdir, ignore_errors=True)
        left = servers.leftovers()
        if left:
            print(f"servers still answering: {', '.join(left)}", file=sys.stderr)

    version = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False).stdout.strip()
    sample = launch_of(make_specs(1, "/tmp")[0], "g")
    print(f"{version}, libtmux {libtmux.__version__}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cpus, median of {args.runs} runs, command {shlex.join(COMMAND)}")
    print(f"per worker: {len(sample.env)} env vars, {len(sample.stamps)} stamps; "
          f"observe reads {len(STAMP_OPTIONS)} stamp options; run_groups batches up to {BATCH_BYTES} bytes")
    print()
    print_table(results)
    print()
    print(f"{len(servers.names)} private sockets used; servers still running: "
          f"{', '.join(left) if left else 'none'}; total {time.perf_counter() - started_at:.1f} s")


if __name__ == "__main__":
    main()
