"""gt doctor: check what a town stands on, and repair what is safe to repair.

Each check returns findings; ``fix`` only ever removes things that hold no work:
a stale socket file, a lock file naming a dead process, worktree records whose
directory is gone, and clean worktrees whose branch is merged and unhooked.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import ManifestError, ReconcilerError

MIN_TMUX = (3, 2)  # new-session -e
MIN_GIT = (2, 38)  # merge-tree --write-tree


@dataclass(frozen=True)
class Finding:
    check: str
    level: str  # ok | warn | fail | fixed
    message: str

    @property
    def bad(self) -> bool:
        return self.level == "fail"


def _version(argv: list[str]) -> tuple[tuple[int, ...], str] | None:
    from reconciler.clients.processes import program_output

    out = program_output(argv)
    if out is None:
        return None
    m = re.search(r"(\d+)\.(\d+)", out)
    return ((int(m.group(1)), int(m.group(2))) if m else (0, 0)), out


def check_tools() -> Iterator[Finding]:
    for name, argv, minimum in (("tmux", ["tmux", "-V"], MIN_TMUX), ("git", ["git", "--version"], MIN_GIT)):
        found = _version(argv)
        if found is None:
            yield Finding(name, "fail", f"{name} is not installed (scripts/bootstrap installs it)")
        elif found[0] < minimum:
            yield Finding(name, "fail", f"{found[1]}: gt needs {name} {'.'.join(map(str, minimum))} or newer")
        else:
            yield Finding(name, "ok", found[1])


def run_checks(root: Path, *, fix: bool = False) -> list[Finding]:
    from reconciler.clients.lock import holder_alive, lock_path, read_holder

    findings = list(check_tools())
    from reconciler.loop.town import Town

    try:
        town = Town.load(root)
    except ManifestError as exc:
        findings.append(Finding("manifests", "fail", f"{len(exc.problems)} errors; first: {exc.problems[0]}"))
        return findings
    findings.append(Finding("manifests", "ok", f"{len(town.desired.files)} files valid"))
    findings.extend(check_agents(town.desired))
    findings.extend(check_git_identity(root))
    findings.extend(_socket(town, fix))
    alive = holder_alive(root)
    holder = read_holder(root)
    if alive:
        findings.extend(_controller(root, town, alive))
    else:
        findings.append(Finding("controller", "warn", "not running (gt start)"))
        pid = holder.get("pid")
        if isinstance(pid, int) and not _pid_alive(pid):
            if fix:
                lock_path(root).write_text("")
                findings.append(Finding("lock", "fixed", f"lock file named dead pid {pid}; cleared"))
            else:
                findings.append(Finding("lock", "warn", f"lock file names dead pid {pid} "
                                        "(harmless: an flock dies with its holder; --fix clears it)"))
    try:
        observed = town.observe()
    except ReconcilerError as exc:
        findings.append(Finding("observe", "fail", str(exc)))
        return findings
    for rig in observed.rigs:
        level = "fail" if rig.error else "ok"
        findings.append(Finding(f"beads {rig.name}", level, rig.error or f"{len(rig.issues)} relevant issues readable"))
    findings.extend(_sessions_and_worktrees(town, observed, fix))
    return findings


def check_agents(desired) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    """Every agent of every Routing (and the built-in one where a rig uses it): is its program
    on the PATH workers get, and will it run as this user?"""
    from reconciler.model.presets import BUILTIN_ROUTING
    from reconciler.observe.programs import lookup_program

    routings = list(desired.routings)
    if any(desired.routing_for(r) is BUILTIN_ROUTING for r in desired.rigs):
        routings.append(BUILTIN_ROUTING)
    for routing in routings:
        rigs = [r for r in desired.rigs if desired.routing_for(r) is routing] or [None]
        for agent in routing.agents:
            name = f"agent {agent.name}"
            where = f"routing {routing.name}, agent {agent.name}"
            lookups = [lookup_program(desired, rig, agent) for rig in rigs]
            missing = [found for found in lookups if found.path is None]
            if missing:
                rigs_text = ", ".join(found.rig or "(no rig uses it)" for found in missing)
                yield Finding(name, "fail", f"{where}: program {agent.program!r} is not on the workers' PATH "
                              f"({missing[0].search}); rigs {rigs_text} cannot start it")
                continue
            yield Finding(name, "ok", f"{where}: {lookups[0].path}")
            yield from _claude_as_root(agent, where)


def _claude_as_root(agent, where: str) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    """Claude Code refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1."""
    if agent.preset != "claude":
        return
    if os.geteuid() == 0 and "--dangerously-skip-permissions" in agent.command \
            and dict(agent.env).get("IS_SANDBOX") != "1":
        yield Finding(f"agent {agent.name}", "fail", f"{where}: gt runs as root, and Claude Code refuses "
                      "--dangerously-skip-permissions as root unless IS_SANDBOX=1 (the claude preset sets it; "
                      "this agent's env overrides it)")
    settings = Path.home() / ".claude.json"
    try:
        import json

        onboarded = bool(json.loads(settings.read_text()).get("hasCompletedOnboarding"))
    except (OSError, ValueError, AttributeError):
        onboarded = False
    if not onboarded:
        yield Finding(f"agent {agent.name}", "warn", f"{where}: Claude Code is not set up for this user "
                      f"({settings} has no completed onboarding): run claude once and log in, or workers "
                      "wait at its first screens (Blocked in gt status)")


def check_git_identity(root: Path) -> Iterator[Finding]:
    """Agents commit in their worktrees; git refuses to commit without an identity."""
    from reconciler.clients.git import author_identity

    identity = author_identity(root)
    if identity is None:
        yield Finding("git identity", "warn", "git has no user.name/user.email here: agents' commits "
                      "will fail (git config --global user.name ...; the demo agent and the refinery "
                      "fall back to their own)")
    else:
        yield Finding("git identity", "ok", identity)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _socket(town, fix: bool) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    path = Path(base) / f"tmux-{os.getuid()}" / town.desired.socket
    from reconciler.clients.tmux import Tmux

    answer = Tmux(town.desired.socket).run(["list-sessions"])
    if answer.no_server and path.exists():
        if fix:
            path.unlink(missing_ok=True)
            yield Finding("socket", "fixed", f"removed stale socket {path}")
        else:
            yield Finding("socket", "warn", f"stale socket {path} (no server behind it; --fix removes it)")
    elif answer.no_server:
        yield Finding("socket", "ok", f"{town.desired.socket}: no server running")
    else:
        yield Finding("socket", "ok", f"{town.desired.socket}: {len(answer.stdout)} sessions")


def _controller(root: Path, town, pid: int) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    from reconciler.clients.status_file import read_status

    status = read_status(root) or {}
    at = status.get("lastPass", {}).get("at")
    if not at:
        yield Finding("controller", "warn", f"pid {pid} has not finished a pass yet")
        return
    import calendar

    age = time.time() - calendar.timegm(time.strptime(at, "%Y-%m-%dT%H:%M:%SZ"))
    limit = 3 * town.desired.town.interval + 60
    if age > limit:
        interval = town.desired.town.interval
        yield Finding("controller", "fail", f"pid {pid}: last pass {age:.0f}s ago (interval {interval:.0f}s)")
    else:
        yield Finding("controller", "ok", f"pid {pid}, last pass at {at}")


def _sessions_and_worktrees(town, observed, fix: bool) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    from reconciler.model.observed import held_hooks
    from reconciler.model.paths import TownPaths
    from reconciler.plan.planner import plan as make_plan

    plan = make_plan(town.desired, observed, time.time())
    orphans = [n for n in plan.notes if n.reason == "orphan"]
    for note in orphans:
        yield Finding("orphan", "fail", f"session {note.session} is not described by any manifest "
                      "(gt apply --prune stops it)")
    paths = TownPaths(town.desired.root)
    live = {(s.stamps.rig, s.stamps.worker): s for s in observed.sessions}
    for (rig, worker), session in live.items():
        if rig and worker and not Path(paths.worktree(rig, worker)).is_dir():
            yield Finding("worktree", "fail", f"session {session.name} has no worktree (.gt/worktrees/{rig}/{worker})")
    held = {(r.name, worker) for r in observed.rigs
            for worker in held_hooks(r.name, r.issues, {})[0]}
    base = Path(paths.worktrees_root)
    for rig_dir in sorted(p for p in base.glob("*") if p.is_dir()):
        for wt in sorted(p for p in rig_dir.iterdir() if p.is_dir()):
            key = (rig_dir.name, wt.name)
            if key in live or key in held:
                continue
            yield from _idle_worktree(town, rig_dir.name, wt, fix)
    if fix:
        for rig in town.desired.rigs:
            _prune_worktree_records(town, rig)


def _idle_worktree(town, rig: str, wt: Path, fix: bool) -> Iterator[Finding]:  # type: ignore[no-untyped-def]
    from reconciler.clients.git import DETACHED, examine, remove_worktree, worktree_branch
    from reconciler.model.paths import rig_repo_path

    spec = next((r for r in town.desired.rigs if r.name == rig), None)
    repo = Path(rig_repo_path(town.desired, spec)) if spec is not None else None
    branch = worktree_branch(wt, repo) if repo is not None else None
    if spec is None or repo is None or branch is None or branch == DETACHED:
        yield Finding("worktree", "warn", f"{wt}: not a usable worktree of a rig's repository")
        return
    state = examine(wt, repo, branch, spec.branch)
    merged = state.ahead == 0 or state.landed
    if fix and not state.dirty and merged:
        kept = remove_worktree(str(wt), str(repo))
        if not kept:
            yield Finding("worktree", "fixed", f"removed clean, merged worktree {wt} ({branch})")
            return
    why = "uncommitted changes" if state.dirty else ("merged" if merged else "unmerged commits")
    yield Finding("worktree", "warn", f"{wt} has no session and no hook ({branch}, {why}); kept")


def _prune_worktree_records(town, rig) -> None:  # type: ignore[no-untyped-def]
    from reconciler.clients.git import prune_worktree_records
    from reconciler.model.paths import rig_repo_path

    prune_worktree_records(rig_repo_path(town.desired, rig))
