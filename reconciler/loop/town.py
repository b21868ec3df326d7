"""A town at run time: its manifests, its session runtime, its stores; plans with digests.

This is the glue the CLI and the controller share: load, observe, plan.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from reconciler.clients.runtime import Runtime
from reconciler.clients.stores import StoreFactory, default_stores
from reconciler.errors import ReconcilerError
from reconciler.loop.revision import ON_DISK, Revision, load_applied, load_at
from reconciler.manifests.loader import ManifestCache
from reconciler.model.actions import Action, Plan
from reconciler.model.desired import DesiredState
from reconciler.model.observed import ObservedState
from reconciler.observe.state import observe, observe_after
from reconciler.plan.planner import plan


class StalePlan(ReconcilerError):
    def __init__(self, what: str) -> None:
        super().__init__(f"saved plan is stale: {what} changed since it was made; run gt diff --out again")


class EmptyPrune(ReconcilerError):
    def __init__(self, count: int) -> None:
        super().__init__(
            f"the manifests describe nothing, so --prune would stop all {count} sessions of the town; "
            "add --allow-empty if that is what you want")


@dataclass
class Town:
    root: Path
    desired: DesiredState
    runtime: Runtime
    stores: StoreFactory
    revision: Revision = ON_DISK

    @classmethod
    def load(cls, root: Path, stores: StoreFactory = default_stores,
             manifests: ManifestCache | None = None, *, rev: str | None = None,
             worktree: bool = False) -> Town:
        """The town at ``rev`` (default: the commit checked out), or as on disk with ``worktree``."""
        revision, desired = load_at(root, rev, worktree=worktree, cache=manifests)
        from reconciler.clients.tmux_runtime import TmuxRuntime

        return cls(root, desired, TmuxRuntime(desired.socket), stores, revision)

    @classmethod
    def load_applied(cls, root: Path, stores: StoreFactory = default_stores) -> Town:
        """The town at the commit the controller applies (else HEAD): for commands that act on its
        sessions now (gt nudge), which must not see a commit it has not applied."""
        revision, desired = load_applied(root)
        from reconciler.clients.tmux_runtime import TmuxRuntime

        return cls(root, desired, TmuxRuntime(desired.socket), stores, revision)

    def observe(self, *, usage: bool = False) -> ObservedState:
        """What is there now; with ``usage``, the tokens the agents used as well."""
        return observe(self.desired, self.runtime, self.stores, usage=usage)

    def replan(self, observed: ObservedState, done: list[Action], now: float) -> tuple[Plan, ObservedState]:
        """The plan after ``done`` was carried out: only what those actions touched is read again."""
        observed = observe_after(self.desired, self.runtime, self.stores, observed, done)
        return plan(self.desired, observed, now, max_spawns=self.desired.town.max_spawns_per_pass), observed

    def plan(self, now: float, *, prune: bool = False, allow_empty: bool = False,
             max_spawns: int | None = None, backoff: bool = True,
             digest: bool = False) -> tuple[Plan, ObservedState]:
        """Observe once and plan once; ``digest`` fingerprints the inputs, for a saved plan."""
        observed = self.observe()
        result = plan(self.desired, observed, now, prune=prune, max_spawns=max_spawns, backoff=backoff)
        if prune and not allow_empty and not self.desired.rigs and observed.sessions:
            raise EmptyPrune(len(observed.sessions))
        if not digest:
            return result, observed
        # A plan made with --rev is applied at that commit; one made at HEAD is checked against HEAD.
        digests = {"manifests": self._manifests_digest(), "revision": self.revision.commit or "worktree",
                   "pinned": "yes" if self.revision.pinned else "",
                   "observed": observed_digest(observed), "socket": self.desired.socket}
        return replace(result, digest=digests), observed

    def check_fresh(self, saved: Plan) -> None:
        """Refuse a saved plan when the manifests or what is observed moved on."""
        if saved.digest.get("manifests") != self._manifests_digest():
            made, now = saved.digest.get("revision", ""), self.revision.commit
            moved = f" (made at {made[:7]}, now at {now[:7]})" if now and made and made != "worktree" else ""
            raise StalePlan(f"the manifests{moved}")
        if saved.digest.get("observed") != observed_digest(self.observe()):
            raise StalePlan("the observed state (sessions or issues)")

    def _manifests_digest(self) -> str:
        """The manifests' Git tree id at a commit (a revert gives the old id back); else files are hashed."""
        from reconciler.clients.git_tree import TownRepository

        repo = TownRepository.find(self.root) if self.revision.commit else None
        if repo is None or self.revision.commit is None:
            return manifests_digest(self.root / "manifests")
        return repo.manifests_tree(self.revision.commit)


def town_socket(root: Path) -> str:
    """The town's tmux socket, even while its manifests are invalid (gt shutdown must still work):
    from the commit applied, else HEAD, else the files, else derived from the town's path."""
    for worktree in (False, True):
        try:
            return (load_at(root, worktree=True) if worktree else load_applied(root))[1].socket
        except ReconcilerError:
            continue
    from reconciler.manifests.build import default_town

    return DesiredState(default_town(root.resolve().name), root=str(root.resolve())).socket


def manifests_digest(directory: Path) -> str:
    from reconciler.manifests.files import manifest_files

    h = hashlib.sha256()
    for path in manifest_files(directory):
        h.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def observed_digest(observed: ObservedState) -> str:
    """What the plan depended on, without what moves by itself (activity times, pids)."""
    sessions = [(s.name, s.dead, asdict(s.stamps)) for s in observed.sessions]
    rigs = [asdict(r) for r in observed.rigs]
    blob = json.dumps([sessions, rigs], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
