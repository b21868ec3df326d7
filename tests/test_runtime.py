"""The session runtime seam: the executor and the observers work through ``Runtime`` alone,
and local tmux keeps each promise of that interface."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.clients.runtime import Runtime, SessionStart
from reconciler.clients.tmux import Tmux
from reconciler.clients.tmux_runtime import TmuxRuntime
from reconciler.model.observed import ObservedSession, Stamps
from tests.conftest import save, wait_for

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


class MemoryRuntime:
    """Sessions kept in a dict: a runtime that is not tmux, failing to start the names in ``unavailable``."""

    def __init__(self, unavailable: frozenset[str] = frozenset()) -> None:
        self.unavailable = unavailable
        self.started: list[SessionStart] = []
        self.live: dict[str, ObservedSession] = {}

    @property
    def where(self) -> str:
        return "memory"

    def sessions(self, *, screens: bool = False) -> tuple[ObservedSession, ...]:
        return tuple(self.live[name] for name in sorted(self.live))

    def refuse(self, start: SessionStart) -> str | None:
        return "too big" if len(start.env.get("BIG", "")) > 100 else None

    def start(self, starts: Sequence[SessionStart]) -> dict[str, str]:
        failed = {}
        for start in starts:
            self.started.append(start)
            if start.name in self.unavailable:
                failed[start.name] = "no capacity on this machine"
                continue
            known = {k: v for k, v in start.stamps.items() if k in Stamps.__dataclass_fields__}
            stamps = Stamps(**{**known, "nudges": int(known.get("nudges", 0)),  # type: ignore[arg-type]
                               "last_nudge": float(known.get("last_nudge", 0)),
                               "answers": int(known.get("answers", 0))})
            self.live[start.name] = ObservedSession(
                name=start.name, pane_pid=0, command=start.argv[0], dead=False, activity=0.0,
                created=0.0, stamps=stamps, processes=(start.argv[0],), screen=())
        return failed

    def stop(self, name: str) -> None:
        self.live.pop(name, None)

    def stamp(self, name: str, stamps: Mapping[str, str]) -> None:
        self.live[name] = replace(self.live[name], stamps=replace(self.live[name].stamps, **stamps))

    def send_keys(self, name: str, keys: Sequence[str]) -> None:
        pass

    def type_text(self, name: str, text: str) -> None:
        pass

    def capture(self, name: str) -> str:
        return ""

    def terminate(self, grace: float) -> int:
        count = len(self.live)
        self.live.clear()
        return count


def test_the_executor_starts_and_stops_workers_through_any_runtime(demo_town: Path) -> None:
    from reconciler.act.executor import Executor
    from reconciler.loop.town import Town

    town = Town.load(demo_town)
    runtime = MemoryRuntime(unavailable=frozenset({"gt-demo-toast"}))
    town.runtime = runtime
    plan, _ = town.plan(0.0)
    outcomes = Executor(town.desired, runtime, town.stores).apply(plan)

    results = {o.action.worker: (o.result.value, o.detail) for o in outcomes}
    assert results["toast"] == ("failed", "no capacity on this machine")
    assert {w for w, (r, _) in results.items() if r == "created"} == {"nux", "slit"}
    for start in runtime.started:  # each start carries its worktree, its PATH and a fresh generation
        assert Path(start.cwd).is_dir() and start.cwd.endswith(start.name.removeprefix("gt-demo-"))
        assert start.env["PATH"] and start.env["GT_GENERATION"] == start.generation != ""
        assert start.stamps["issue"].startswith("dm-") and start.argv
    assert sorted(runtime.live) == ["gt-demo-nux", "gt-demo-slit"]
    assert Tmux(town.desired.socket).run(["list-sessions"]).no_server  # tmux itself was never touched

    # The next plan observes through the same runtime: what runs is in sync, the refused one retried.
    again, _ = town.plan(0.0, backoff=False)
    assert [(a.op.value, a.worker) for a in again.actions] == [("respawn", "toast")]
    runtime.unavailable = frozenset()
    Executor(town.desired, runtime, town.stores).apply(again)
    assert sorted(runtime.live) == ["gt-demo-nux", "gt-demo-slit", "gt-demo-toast"]

    # Docking the rig stops every session through the runtime and keeps the hooks.
    rig = demo_town / "manifests/rigs/demo.yaml"
    save(rig, rig.read_text().replace("state: active", "state: docked"))
    docked = Town.load(demo_town)
    docked.runtime = runtime
    stop, _ = docked.plan(0.0)
    assert sorted((a.op.value, a.worker) for a in stop.actions) == [
        ("stop", "nux"), ("stop", "slit"), ("stop", "toast")]
    Executor(docked.desired, runtime, docked.stores).apply(stop)
    assert runtime.live == {}


def _start(name: str, generation: str, argv: tuple[str, ...], cwd: Path) -> SessionStart:
    return SessionStart(name=name, cwd=str(cwd), argv=argv, env={"PATH": "/usr/bin:/bin", "GREETING": "hi"},
                        stamps={"generation": generation, "rig": "r", "worker": name})


@needs_tmux
def test_tmux_keeps_the_runtime_contract(tmp_path: Path) -> None:
    runtime: Runtime = TmuxRuntime("gt-test-runtime")
    try:
        cat = _start("cat-a", "g1", ("cat",), tmp_path)
        shell = _start("env-b", "g1", ("sh", "-c", 'echo "$GREETING from $PWD"; sleep 30'), tmp_path)
        assert runtime.start([cat, shell]) == {}
        seen = {s.name: s for s in runtime.sessions()}
        assert sorted(seen) == ["cat-a", "env-b"]
        assert seen["cat-a"].stamps.generation == "g1" and seen["cat-a"].stamps.worker == "cat-a"
        assert "cat" in (seen["cat-a"].processes or ())  # liveness: the programs under the pane
        wait_for(lambda: f"hi from {tmp_path}" in runtime.capture("env-b"))  # env and cwd given at start

        runtime.type_text("cat-a", "hello C-c Enter")  # literal text, never key names
        runtime.send_keys("cat-a", ["Enter"])
        wait_for(lambda: runtime.capture("cat-a").count("hello C-c Enter") == 2)  # typed, then echoed by cat
        runtime.stamp("cat-a", {"nudges": "2"})
        assert {s.name: s for s in runtime.sessions()}["cat-a"].stamps.nudges == 2

        assert runtime.start([_start("cat-a", "g2", ("cat",), tmp_path)]) == {}  # replaced, not doubled
        assert [(s.name, s.stamps.generation) for s in runtime.sessions()] == [("cat-a", "g2"), ("env-b", "g1")]
        bad = runtime.start([_start("bad:name", "g3", ("cat",), tmp_path)])  # tmux renames it: never seen
        assert list(bad) == ["bad:name"] and bad["bad:name"]

        runtime.stop("env-b")
        runtime.stop("env-b")  # already gone is fine
        assert "env-b" not in {s.name for s in runtime.sessions()}
        assert runtime.terminate(2.0) == 2
        assert runtime.sessions() == ()
    finally:
        Tmux("gt-test-runtime").kill_server()
