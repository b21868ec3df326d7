"""The steward: converge continuously, one level-based pass at a time.

A pass runs when a manifest, a store or a git ref changes (at once when the
controller is idle; changes within the debounce window after that are folded
into one follow-up pass), when asked (SIGUSR1, sent by gt wake), when the last
plan said something falls due (RequeueAfter: a backoff ending, a nudge, a pane
settling), and at least every interval (with jitter). A pass observes and plans
once; after acting it reads again only what its actions touched (the sessions, and
the store and worktrees of the rigs acted on) and plans that for status. A pass
whose manifests are invalid keeps the last good desired state and records the
errors in status.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.act.executor import Executor, Outcome
from reconciler.clients.git_tree import RevisionError, TownRepository
from reconciler.clients.lock import LockHeld, TownLock
from reconciler.clients.status_file import write_status
from reconciler.clients.stores import StoreCache
from reconciler.errors import ManifestError, ManifestProblem, ReconcilerError
from reconciler.loop.logs import controller_logger
from reconciler.loop.revision import Revision
from reconciler.loop.status import iso, town_status
from reconciler.loop.town import Town
from reconciler.manifests.loader import ManifestCache
from reconciler.model.actions import Action, Plan
from reconciler.model.desired import Source
from reconciler.model.observed import ObservedState

log = logging.getLogger(__name__)
STARTUP_POLL = 2.0  # after starting workers, look again this soon: dialogs and ready prompts appear
MIN_REQUEUE = 0.5  # never spin: a pass asked for sooner than this waits this long


@dataclass
class PassResult:
    number: int
    outcomes: list[Outcome] = field(default_factory=list)
    errors: tuple[ManifestProblem, ...] = ()
    status: dict[str, Any] = field(default_factory=dict)


def _where(source: Source | None) -> tuple[str, int, int]:
    return (source.path, source.line, source.col) if source is not None else ("", 0, 0)


class Controller:
    def __init__(self, root: Path, *, clock: Any = time.time) -> None:
        self.root = root.resolve()
        self.clock = clock
        self.town: Town | None = None  # the last good town: kept while manifests are broken
        self.passes = 0
        self.started = clock()
        self._wake = threading.Condition()
        self._dirty = False  # a change was noticed and no pass has started since
        self._urgent = False  # gt wake asked: never folded into a later pass
        self._last_start = float("-inf")  # monotonic start of the last pass, for the debounce
        self._stop = False
        self._due_at: float | None = None  # monotonic time the last plan said something falls due
        self._cause = "start"  # why the pass about to run runs: start, change, due or interval
        self.journal = controller_logger(self.root)
        # Kept for the controller's life: a store rereads its file only when it changed,
        # and a manifest is parsed and validated again only when its stat changed.
        self._stores = StoreCache()
        self._manifests = ManifestCache()
        self._observed: ObservedState | None = None  # the last look, for the processes to watch
        self._started_on: str | None = None  # the branch checked out at the first pass
        self._following: str | None = None  # the branch applied: that one, or the one a commit names
        self._commit_seen: str | None = None  # the commit the last load read
        self._rejected: str | None = None  # a commit whose manifests were invalid: not applied

    # -- one pass ---------------------------------------------------------------

    def reconcile_once(self) -> PassResult:
        self.passes += 1
        self._last_start = time.monotonic()
        started = self.clock()
        result = PassResult(self.passes)
        try:
            self.town = self._load()
            self._rejected = None
        except (ManifestError, RevisionError) as exc:
            result.errors = exc.problems if isinstance(exc, ManifestError) else (
                ManifestProblem("", 0, 0, "", str(exc)),)
            self._rejected = self._commit_seen
            self.journal.info("manifests invalid", extra={"gt": {
                "pass": self.passes, "action": "load", "outcome": "failed", "commit": self._commit_seen,
                "error": "; ".join(map(str, result.errors))}})
        town = self.town
        if town is None:
            result.status = self._status(None, result, started)
            return result
        desired = town.desired
        seen = None
        planned_at = self._last_start
        try:
            full, observed = town.plan(started, max_spawns=desired.town.max_spawns_per_pass)
            plan = full
            if result.errors:  # broken manifests: keep the last good state, start or stop nothing
                plan = replace(plan, actions=tuple(a for a in plan.actions
                                                   if a.op.value in ("nudge", "help", "answer", "prompt")))
            executor = Executor(desired, town.runtime, town.stores, clock=self.clock,
                                on_event=self._journal_outcome, on_progress=self._journal_progress)
            result.outcomes = executor.apply(plan)
            if result.outcomes:
                planned_at = time.monotonic()
                seen = town.replan(observed, [o.action for o in result.outcomes], self.clock())
            else:
                seen = (full, observed)  # nothing changed since: status needs no second look
        except ReconcilerError as exc:
            result.errors = (*result.errors, ManifestProblem("", 0, 0, "", f"pass failed: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a pass never takes the controller down
            self._journal_error("pass", exc)
            result.errors = (*result.errors, ManifestProblem(
                "", 0, 0, "", f"pass failed: unexpected {type(exc).__name__}: {exc} (see .gt/controller.log)"))
        self._observed = seen[1] if seen is not None else None
        try:
            result.status = self._status(town, result, started, seen, planned_at)
        except Exception as exc:  # noqa: BLE001 - a status that cannot be written (a full disk) ends nothing
            self._journal_error("status", exc)
        return result

    def _load(self) -> Town:
        """The town at the followed branch's newest commit (kept while that commit is the same);
        a town that is not a Git repository is read from its files."""
        repo = TownRepository.find(self.root)
        if repo is None:
            self._commit_seen = None
            return Town.load(self.root, self._stores, self._manifests)
        if self._started_on is None:
            self._started_on = self._following = repo.checked_out_branch() or "HEAD"
        following = self._following or self._started_on
        self._commit_seen = None  # so a failure below never names the applied commit as rejected
        try:
            commit = repo.branch_tip(following)
        except RevisionError:
            if following == self._started_on:
                raise
            # The branch a commit switched to is gone: go back to the one checked out at start.
            self._following = following = self._started_on
            commit = repo.branch_tip(following)
        self._commit_seen = commit
        if self.town is not None and self.town.revision.commit == commit:
            return self.town
        town = Town.load(self.root, self._stores, self._manifests, rev=commit)
        wanted = town.desired.town.branch
        if wanted and wanted != following:
            # The commit names another branch: follow that one from now on (a commit there that
            # names no branch keeps it followed, so the two never take turns). A branch that does
            # not exist makes this commit invalid: it is refused like any other error.
            try:
                switched = repo.branch_tip(wanted)
            except RevisionError as exc:
                raise ManifestError([ManifestProblem(
                    *_where(town.desired.town.source), "$.spec.controller.branch", str(exc))]) from None
            self._following, following, commit = wanted, wanted, switched
            self._commit_seen = commit
            town = Town.load(self.root, self._stores, self._manifests, rev=commit)
        return replace(town, revision=Revision(commit, following))

    def source(self) -> dict[str, Any]:
        """What the controller applies, for status: the branch and commit, or the working tree,
        and a newer commit it refused because its manifests are invalid."""
        revision = self.town.revision if self.town else None
        if revision is not None and revision.commit is None:
            return {"worktree": revision.why or "not a Git repository"}
        return {"branch": revision.ref if revision else self._following,
                "commit": revision.commit if revision else None, "rejected": self._rejected}

    def _journal_error(self, what: str, exc: BaseException) -> None:
        import traceback

        self.journal.error(f"{what} failed", extra={"gt": {
            "pass": self.passes, "action": what, "outcome": "failed",
            "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}})

    def _status(self, town: Town | None, result: PassResult, started: float,
                seen: tuple[Plan, ObservedState] | None = None, planned_at: float = 0.0) -> dict[str, Any]:
        now = self.clock()
        info: dict[str, Any] = {"number": result.number, "at": iso(started), "duration": round(now - started, 3),
                "actions": len(result.outcomes), "failed": sum(o.failed for o in result.outcomes)}
        controller = {"pid": os.getpid(), "startedAt": iso(self.started), "version": __version__,
                      "source": self.source()}
        status: dict[str, Any]
        if town is None:
            status = {"controller": controller, "lastPass": info,
                      "sync": {"status": "Error", "errors": [p.as_dict() for p in result.errors],
                               "pending": []}, "rigs": [], "convoys": []}
        else:
            status, after = town_status(town, now, errors=result.errors, pass_info=info,
                                        controller=controller, seen=seen)
            spawned = any(o.action.op.value in ("spawn", "respawn", "restart") and not o.failed
                          for o in result.outcomes)
            # Work that arrived while this pass acted (a worker's gt done written between its look
            # and its own writes to the same store, which its watcher then takes for its own) is
            # seen by the look after acting: come back for it soon rather than at the interval.
            pending = bool(after.actions) and not result.errors
            due = [d for d in (after.requeue_after, STARTUP_POLL if spawned or pending else None) if d is not None]
            # Due times count from the plan's clock reading, so a slow pass does not push them later.
            self._due_at = planned_at + min(due) if due else None
        write_status(self.root, status)
        self.journal.info("pass done", extra={"gt": {
            "pass": result.number, "action": "pass", "outcome": status["sync"]["status"],
            "duration": info["duration"], "actions": info["actions"], "failed": info["failed"],
            "cause": self._cause}})
        return status

    def _journal_progress(self, action: Action, line: str) -> None:
        self.journal.info("progress", extra={"gt": {"pass": self.passes, "action": action.op.value,
                                                    "subject": action.subject, "detail": line}})

    def _journal_outcome(self, outcome: Outcome) -> None:
        a = outcome.action
        crash = {"status": a.crash.status, "output": list(a.crash.output)} if a.crash else None
        self.journal.info("action", extra={"gt": {
            "pass": self.passes, "action": a.op.value, "subject": a.subject, "issue": a.issue,
            "reason": a.reason, "outcome": outcome.result.value, "why": a.why,
            "detail": None if outcome.failed else outcome.detail or None,
            "error": outcome.detail if outcome.failed else None, "crash": crash}})

    # -- the loop ---------------------------------------------------------------

    def wake(self, debounced: bool = False) -> None:
        """Ask for a pass: at once, or, for a noticed change, within the debounce window."""
        with self._wake:
            self._dirty = True
            self._urgent = self._urgent or not debounced
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()

    def run(self, max_passes: int | None = None) -> None:
        lock = TownLock(self.root, "controller").acquire()
        watcher = None
        try:
            signal.signal(signal.SIGTERM, lambda *_: self.stop())
            signal.signal(signal.SIGINT, lambda *_: self.stop())
            signal.signal(signal.SIGUSR1, lambda *_: self.wake())
            from reconciler.loop.watch import TownWatcher

            watcher = TownWatcher(self.root, lambda: self.wake(debounced=True))
            self.journal.info("controller started", extra={"gt": {"action": "start", "pid": os.getpid()}})
            failures = 0
            while not self._stop:
                try:
                    self.reconcile_once()
                    lock.refresh()  # .gt/town.lock deleted by hand: say again who holds the town
                    watcher.watch_also(self._store_dirs())
                    watcher.watch_pids(s.pane_pid for s in (self._observed.sessions if self._observed else ())
                                       if not s.dead)
                    failures = 0
                except LockHeld as exc:  # .gt/ was replaced and another writer holds it now: give way
                    self._journal_error("lock", exc)
                    break
                except Exception as exc:  # noqa: BLE001 - the controller outlives anything a pass meets
                    failures += 1
                    self._journal_error("loop", exc)
                    self._due_at = time.monotonic() + min(2.0 ** failures, self._interval()[0])
                if max_passes is not None and self.passes >= max_passes:
                    break
                self._sleep()
        finally:
            if watcher is not None:
                watcher.stop()
            self.journal.info("controller stopped", extra={"gt": {"action": "stop", "pid": os.getpid()}})
            lock.release()

    def _store_dirs(self) -> list[Path]:
        from reconciler.model.paths import rig_repo_path

        if self.town is None:
            return []
        desired = self.town.desired
        return [Path(rig_repo_path(desired, rig)) / rig.beads_path for rig in desired.rigs]

    def _interval(self) -> tuple[float, float]:
        from reconciler.manifests.build import default_town

        town = self.town.desired.town if self.town else default_town(self.root.name)
        return town.interval * (1 + random.uniform(-town.jitter, town.jitter)), town.debounce

    def _sleep(self) -> None:
        """Wait for the next pass: a change (leading edge, then folded), a due time, or the interval."""
        interval, debounce = self._interval()
        deadline = time.monotonic() + interval
        if self._due_at is not None:
            deadline = min(deadline, max(self._due_at, self._last_start + MIN_REQUEUE))
        with self._wake:
            while not self._stop:
                now = time.monotonic()
                if self._urgent:
                    deadline = now
                elif self._dirty:
                    # Idle for a debounce window already: go now. Otherwise fold what else
                    # arrives into one pass at the window's end.
                    deadline = min(deadline, self._last_start + debounce)
                if now >= deadline:
                    # Why this pass runs, for the journal: a change seen (or a signal), a due time, the interval.
                    self._cause = "change" if self._dirty or self._urgent else \
                        "due" if self._due_at is not None and now >= self._due_at else "interval"
                    self._dirty = self._urgent = False
                    return
                self._wake.wait(deadline - now)
