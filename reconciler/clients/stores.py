"""The one store factory: every reader and writer of a rig's issues gets its store here.

The Town manifest's ``beads.backend`` chooses the implementation, so with ``bd`` every
write (hooks, closes, worker verbs, mail) goes through ``bd``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from reconciler.clients.beads import Issue, IssueStore
from reconciler.errors import StoreError
from reconciler.model.desired import DesiredState, RigSpec
from reconciler.model.mail import MESSAGE_ISSUE_TYPE, Envelope
from reconciler.model.paths import rig_repo_path

StoreFactory = Callable[[DesiredState, RigSpec], IssueStore]


def open_store(backend: str, repo: Path, prefix: str, actor: str = "gt", beads_path: str = ".beads") -> IssueStore:
    """The store of ``repo``: through ``bd`` there, or the JSONL file under ``beads_path``."""
    # Backends are imported here so importing the factory stays cheap.
    if backend == "embedded":
        from reconciler.clients.beads.embedded import JsonlStore

        return JsonlStore(repo / beads_path / "issues.jsonl", prefix, actor=actor)
    if backend == "bd":
        from reconciler.clients.beads.bdcli import BdStore

        return BdStore(repo, prefix, actor=actor, beads_path=beads_path)
    raise StoreError(f"unknown beads backend {backend!r} (expected 'embedded' or 'bd')")


def default_stores(desired: DesiredState, rig: RigSpec, actor: str = "gt") -> IssueStore:
    """The store the Town manifest names, in the rig's repository; writes are made as ``actor``."""
    return open_store(desired.town.beads_backend, Path(rig_repo_path(desired, rig)), rig.prefix, actor,
                      rig.beads_path)


def post(store: IssueStore, to: str, envelope: Envelope, subject: str, body: str,
         extra_labels: Iterable[str] = ()) -> Issue:
    """A message into the town's mail: an issue of type message, assigned to its recipient,
    labelled by ``envelope`` (and ``extra_labels``: which issue or convoy it is about)."""
    return store.create(subject, description=body, issue_type=MESSAGE_ISSUE_TYPE, assignee=to,
                        labels=[*envelope.labels(), *extra_labels])


def town_store(desired: DesiredState, actor: str = "gt") -> IssueStore:
    """The town's own store (mail), at the town root, with the backend the Town manifest names."""
    return open_store(desired.town.beads_backend, Path(desired.root), desired.town.beads_prefix, actor)


class StoreCache:
    """A store factory that keeps each store for the life of its holder (the controller).

    Stores keep what they read until their file changes, so a kept store reads an
    unchanged rig for the price of one stat instead of a parse.
    """

    def __init__(self, factory: StoreFactory = default_stores) -> None:
        self.factory = factory
        self._stores: dict[tuple[str, str, str, str, str], IssueStore] = {}

    def __call__(self, desired: DesiredState, rig: RigSpec) -> IssueStore:
        key = (desired.town.beads_backend, rig_repo_path(desired, rig), rig.beads_path, rig.prefix, rig.name)
        if key not in self._stores:
            self._stores[key] = self.factory(desired, rig)
        return self._stores[key]
