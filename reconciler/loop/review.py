"""``gt diff --base REF --head REF``: load both revisions, observe for each without acting, review.

The stores are read as they are and the sessions listed; no hook is taken and no session touched,
so it runs as well in a CI job (where there may be no tmux server and no rig checked out) as on
the town's own machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.clients.stores import StoreFactory, default_stores
from reconciler.loop.revision import Revision, load_at
from reconciler.model.desired import DesiredState
from reconciler.model.observed import ObservedState
from reconciler.observe.state import observe_for_review
from reconciler.plan.review import Review, review


@dataclass(frozen=True)
class ReviewResult:
    base: Revision
    head: Revision
    review: Review


def review_revisions(root: Path, base: str, head: str | None, *, head_worktree: bool, now: float,
                     stores: StoreFactory = default_stores) -> ReviewResult:
    base_revision, base_state = load_at(root, base)
    head_revision, head_state = load_at(root, head, worktree=head_worktree)
    result = review(base_state, head_state, _look(base_state, stores), _look(head_state, stores), now)
    return ReviewResult(base_revision, head_revision, result)


def _look(desired: DesiredState, stores: StoreFactory) -> ObservedState:
    from reconciler.clients.tmux_runtime import TmuxRuntime

    return observe_for_review(desired, TmuxRuntime(desired.socket), stores)
