"""gt at scale: a synthetic town of 5, 10 and 20 rigs (500 issues and 10 sleeping workers a rig).

Each size is a town from bench/synthetic_town.py, converged with `gt apply --yes` first, so
every figure below is of a town with nothing to do. Each gt figure is compared, as a ratio of
medians, with a lower bound measured in the same run, alternating gt and bound runs:

pass     a warm controller pass in this process (Controller.reconcile_once after a first one)
         against the same reads done raw here: a stat of every manifest and issues file, one
         `tmux list-panes` with the same fields, every worker's pane captured in as few tmux
         calls as gt makes, one psutil scan of the process table, each worktree's `.git` and
         HEAD read, the history files read, and the status written.
cold     `gt diff`, `gt -o json diff`, `gt validate` as new processes, against a script that
         starts Python, parses every manifest with libyaml's C loader, every issues.jsonl line
         with json, and makes one `tmux list-panes` call; `gt status` with a controller running,
         against `python -c` reading `.gt/status.json` with json.
memory   peak RSS of `gt diff` (wait4) against `python -c pass`; the controller's RSS and threads
         (psutil) after its passes are done, against `python -c "import time; time.sleep(9)"`.

Usage: python bench/scale.py [--runs 7] [--sizes 5,10,20]   (about 3 minutes with the defaults)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from controller import BenchTown, gt_binary, private_base, strays  # bench/controller.py
from synthetic_town import Shape, make_town

FIELDS = ("#{session_name}", "#{pane_index}", "#{pane_pid}", "#{pane_current_command}", "#{pane_dead}",
          "#{pane_dead_status}", "#{session_activity}", "#{session_created}",
          *(f"#{{@gt_{k}}}" for k in ("rig", "worker", "issue", "generation", "fingerprint", "nudges",
                                       "last_nudge", "help", "prompted", "answers", "agent")))
CAPTURE_BATCH = 12 * 1024  # what gt's own tmux client batches to

COLD_BOUND = """
import json, subprocess, sys
from pathlib import Path
import yaml
root = Path(sys.argv[1])
for path in sorted((root / "manifests").rglob("*.yaml")):
    list(yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader))
for path in sorted((root / "rigs").glob("*/.beads/issues.jsonl")):
    [json.loads(line) for line in path.read_text().splitlines() if line]
subprocess.run(["tmux", "-L", sys.argv[2], "list-panes", "-a", "-F", sys.argv[3]], capture_output=True)
"""


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def alternate(runs: int, gt: Callable[[], object], bound: Callable[[], object]) -> tuple[list[float], list[float]]:
    """Each side run ``runs`` times, alternating, after one untimed warm-up of each."""
    gt(), bound()
    mine, base = [], []
    for _ in range(runs):
        mine.append(timed(gt))
        base.append(timed(bound))
    return mine, base


# A small parent for a peak-RSS reading: a child's peak counts the pages it had before exec,
# which, spawned from this (large) process, would be this process's.
PEAK = ("import os, sys; fd = os.open(os.devnull, os.O_WRONLY); "
        "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1), "
        "(os.POSIX_SPAWN_DUP2, fd, 2)]); print(os.wait4(pid, 0)[2].ru_maxrss)")


def run(argv: list[str]) -> None:
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def peak_rss(argv: list[str]) -> int:
    """The peak RSS of running ``argv`` to completion, in KiB."""
    done = subprocess.run([sys.executable, "-S", "-c", PEAK, *argv], capture_output=True, text=True, check=True)
    return int(done.stdout)


# -- the raw pass ----------------------------------------------------------------------------

def raw_pass(root: Path, socket: str) -> None:
    """The reads of a no-op pass, done directly."""
    for path in (root / "manifests").rglob("*.yaml"):
        path.stat()
    for path in (root / "rigs").glob("*/.beads/issues.jsonl"):
        path.stat()
    listed = subprocess.run(["tmux", "-L", socket, "list-panes", "-a", "-F", "\t".join(FIELDS)],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    names = [line.split("\t", 1)[0] for line in listed]
    batch: list[str] = []
    for name in names:
        command = ["display-message", "-p", "-t", f"={name}:", f"@{name}", ";",
                   "capture-pane", "-p", "-J", "-t", f"={name}:", ";"]
        if batch and sum(len(a) + 1 for a in batch) + sum(len(a) + 1 for a in command) > CAPTURE_BATCH:
            subprocess.run(["tmux", "-L", socket, *batch[:-1]], capture_output=True, check=False)
            batch = []
        batch += command
    if batch:
        subprocess.run(["tmux", "-L", socket, *batch[:-1]], capture_output=True, check=False)
    list(psutil.process_iter(["pid", "ppid", "name", "cmdline"]))
    for rig in (root / ".gt" / "worktrees").iterdir():
        for worktree in rig.iterdir():
            gitdir = (worktree / ".git").read_text().split(":", 1)[1].strip()
            (Path(gitdir) / "HEAD").read_text()
    for name in ("crashes.json", "failures.json"):
        try:
            (root / ".gt" / name).read_text()
        except OSError:
            pass
    status = root / ".gt" / "raw-status.json"
    status.write_text(json.dumps({"names": names}))
    os.replace(status, root / ".gt" / "raw-status.json.done")


# -- one size ----------------------------------------------------------------------------------

def measure(base: Path, rigs: int, runs: int) -> dict[str, object]:
    from reconciler.loop.controller import Controller

    shape = Shape().scaled(rigs)
    socket = f"gt-bench-scale-{rigs}-{os.getpid()}"
    root = make_town(base / f"t{rigs}", shape, socket)
    town = BenchTown(root, socket)
    out: dict[str, object] = {"shape": shape}
    try:
        applied = town.gt("apply", "--yes", timeout=600)
        if applied.returncode != 0:
            raise RuntimeError(f"gt apply: {applied.stdout[-400:]}{applied.stderr[-400:]}")
        controller = Controller(root)
        first = controller.reconcile_once()
        if first.outcomes:
            raise RuntimeError(f"{rigs} rigs: the town was not converged ({len(first.outcomes)} actions)")
        noop: list[int] = []

        def one_pass() -> None:
            noop.append(len(controller.reconcile_once().outcomes))

        out["pass"] = alternate(runs, one_pass, lambda: raw_pass(root, socket))
        if any(noop):
            raise RuntimeError(f"{rigs} rigs: a warm pass acted ({noop})")
        controller.journal.handlers.clear()

        gt = gt_binary()
        bound = [sys.executable, "-c", COLD_BOUND, str(root), socket, "\t".join(FIELDS)]
        for name, argv in (("gt diff", ["diff"]), ("gt -o json diff", ["-o", "json", "diff"]),
                           ("gt validate", ["validate"])):
            out[name] = alternate(runs, lambda a=argv: run([gt, "--town", str(root), *a]), lambda: run(bound))
        diff_rss = peak_rss([gt, "--town", str(root), "diff"])
        bare_rss = peak_rss([sys.executable, "-c", "pass"])
        out["rss gt diff"] = (diff_rss, bare_rss)

        pid = town.start()
        time.sleep(3)  # the first passes after start, then idle
        status_bound = [sys.executable, "-c", "import json; json.load(open('.gt/status.json'))"]
        out["gt status"] = alternate(runs, lambda: run([gt, "--town", str(root), "status"]),
                                     lambda: subprocess.run(status_bound, cwd=root, check=True))
        proc = psutil.Process(pid)
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(9)"])
        time.sleep(1)
        out["controller"] = (proc.memory_info().rss // 1024, proc.num_threads(),
                             psutil.Process(sleeper.pid).memory_info().rss // 1024)
        sleeper.kill()
        sleeper.wait()
    finally:
        problems = town.shutdown()
        if problems:
            print(f"cleanup {rigs} rigs: {'; '.join(problems)}", file=sys.stderr)
    return out


def row(what: str, rigs: int, mine: list[float], base: list[float]) -> str:
    m, b = statistics.median(mine), statistics.median(base)
    return (f"| {what} | {rigs} | {m:.0f} | {min(mine):.0f} | {max(mine):.0f} | {b:.0f} | {m / b:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="5,10,20")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = private_base("gt-bench-scale-")
    results = {}
    try:
        for rigs in sizes:
            results[rigs] = measure(base, rigs, args.runs)
    finally:
        for pid in strays(base):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)

    version = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"{version}, Python {sys.version.split()[0]}, {os.cpu_count()} cpus; median of {args.runs}, ms")
    print()
    print("| what | rigs | gt median | min | max | lower bound median | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for what in ("pass", "gt diff", "gt -o json diff", "gt validate", "gt status"):
        for rigs, out in results.items():
            mine, bound = out[what]  # type: ignore[misc]
            print(row(what if what != "pass" else "warm no-op pass", rigs, mine, bound))
    print()
    print("| rigs | issues | workers | gt diff peak RSS | bare python | ratio | controller RSS | threads |"
          " bare python | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for rigs, out in results.items():
        shape: Shape = out["shape"]  # type: ignore[assignment]
        diff_rss, bare = out["rss gt diff"]  # type: ignore[misc]
        rss, threads, sleeper = out["controller"]  # type: ignore[misc]
        print(f"| {rigs} | {shape.issues} | {shape.workers} | {diff_rss / 1024:.1f} MiB | {bare / 1024:.1f} MiB | "
              f"{diff_rss / bare:.1f}x | {rss / 1024:.1f} MiB | {threads} | {sleeper / 1024:.1f} MiB | "
              f"{rss / sleeper:.1f}x |")


if __name__ == "__main__":
    main()
