"""Swarms: a convoy worked Plan -> Execute -> Review, each phase on its own model.

A swarm convoy (``spec.swarm``) lists the issues to plan. The planner of a listed issue files
its subtasks in Beads as that issue's children (``gt swarm file``), each blocked by the
planning issue, and one review issue, also a child, blocked by the planning issue and by every
subtask. Readiness then does the rest: the subtasks start together once the plan is merged,
and the review starts once every subtask is merged and closed. The convoy works the children
though it does not list them. Pure functions of the model: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from reconciler.model.desired import ConvoySpec, DesiredState, SwarmSpec
from reconciler.model.observed import ObservedIssue

TASK_LABEL = "gt:swarm-task"  # a subtask a swarm's planner filed
REVIEW_LABEL = "gt:swarm-review"  # a swarm's review issue


class SwarmRole(str, enum.Enum):
    """What an issue is in its swarm; the value names the SwarmSpec field of its model."""

    planner = "planner"  # a listed issue: break it into subtasks
    executor = "executor"  # a child: one subtask
    reviewer = "reviewer"  # the child labelled gt:swarm-review: review the merged result


@dataclass(frozen=True)
class SwarmPart:
    """One issue's place in a swarm."""

    convoy: ConvoySpec
    swarm: SwarmSpec
    role: SwarmRole
    planning: str  # the listed issue the swarm grew from (for the planner, its own)

    @property
    def model(self) -> str:
        """The model its phase runs on."""
        model: str = getattr(self.swarm, self.role.value)
        return model


def part_of(desired: DesiredState, rig: str, issue_id: str, parent: str | None,
            labels: Collection[str]) -> SwarmPart | None:
    """The issue's place in a swarm of ``rig``, or None when it is in none: a listed issue of a
    swarm convoy is planned; a child of one is its review (labelled) or a subtask."""
    listed = desired.listed(rig)
    convoy = listed.get(issue_id)
    if convoy is not None:
        return SwarmPart(convoy, convoy.swarm, SwarmRole.planner, issue_id) if convoy.swarm else None
    convoy = listed.get(parent) if parent else None
    if convoy is None or convoy.swarm is None or parent is None:
        return None
    role = SwarmRole.reviewer if REVIEW_LABEL in labels else SwarmRole.executor
    return SwarmPart(convoy, convoy.swarm, role, parent)


def members(convoy: ConvoySpec, issues: Iterable[ObservedIssue]) -> tuple[str, ...]:
    """The issues a convoy works, in order: its listed ones, and for a swarm each listed issue
    followed by its children in the store (its subtasks in the order they were filed, its
    review last)."""
    if convoy.swarm is None:
        return convoy.issues
    listed = set(convoy.issues)
    children: dict[str, list[ObservedIssue]] = {}
    for issue in issues:
        if issue.parent in listed and issue.id not in listed:
            children.setdefault(issue.parent, []).append(issue)
    found: list[str] = []
    for planning in convoy.issues:
        kids = children.get(planning, [])
        found += [planning, *(k.id for k in kids if REVIEW_LABEL not in k.labels),
                  *(k.id for k in kids if REVIEW_LABEL in k.labels)]
    return tuple(dict.fromkeys(found))


def worked(desired: DesiredState, rig: str, issues: Iterable[ObservedIssue]) -> Mapping[str, ConvoySpec]:
    """``desired.listed(rig)`` with each swarm's children added, under their swarm's convoy."""
    listed = desired.listed(rig)
    swarms = {i: c for i, c in listed.items() if c.swarm is not None}
    if not swarms:
        return listed
    found = dict(listed)
    for issue in issues:
        if issue.parent in swarms:
            found.setdefault(issue.id, swarms[issue.parent])
    return found
