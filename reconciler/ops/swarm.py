"""Swarms from the command line: gt swarm deploy (a convoy's manifest edit), gt swarm file (a
planner files its subtasks in Beads), and what gt prime tells each part of a swarm.

A planner files each subtask as a child of its planning issue, blocked by it (so the subtasks
start together once the plan is merged), and one review issue, a child too, blocked by the
planning issue and every subtask (so it starts once all of them are merged and closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.clients.beads import Issue
from reconciler.errors import UsageError
from reconciler.manifests import edit
from reconciler.model.observed import DONE_STATUSES
from reconciler.model.swarm import REVIEW_LABEL, TASK_LABEL, SwarmPart, SwarmRole, part_of
from reconciler.ops.edits import ManifestEdit, _checked, _convoy_file, _read, _town
from reconciler.ops.worker import WorkerContext, hook_of

PHASES = tuple(role.value for role in SwarmRole)  # planner, executor, reviewer: spec.swarm's fields

REVIEW_TEXT = (
    "Review the merged result of swarm {convoy}: every subtask of {planning} ({title}) is merged "
    "into the rig's branch by now. Read what they changed together, fix what is wrong or missing, "
    "and write the review down in your worktree; commit it and run gt done."
)


# -- gt swarm deploy ----------------------------------------------------------------------------


def deploy(root: Path, name: str, models: dict[str, str | None]) -> ManifestEdit:
    """gt swarm deploy: convoy ``name``'s ``spec.swarm``, each phase's model as asked, else as it
    is, else the schema's default; the file's other text stays as it was."""
    from reconciler.manifests.build import defaulted

    desired = _town(root)
    path = _convoy_file(root, desired, name)
    convoy = next(c for c in desired.convoys if c.name == name)
    defaults = defaulted("Convoy", {"rig": convoy.rig, "issues": list(convoy.issues), "swarm": {}})["swarm"]
    values = {phase: models.get(phase) or (getattr(convoy.swarm, phase) if convoy.swarm else defaults[phase])
              for phase in PHASES}
    before = _read(path)
    after = edit.set_swarm(before, path.relative_to(root).as_posix(), name, values)
    said = ", ".join(f"{phase} {model}" for phase, model in values.items())
    change = edit.Change.added if convoy.swarm is None else edit.Change.updated
    return _checked(ManifestEdit(root, path, before, after, f"convoy {name}: swarm ({said})",
                                 change if before != after else edit.Change.unchanged))


# -- gt swarm file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filed:
    """What one gt swarm file made: the subtasks, and the review as it now stands."""

    planning: Issue
    tasks: tuple[Issue, ...]
    review: Issue


def swarm_part(ctx: WorkerContext, issue: Issue) -> SwarmPart | None:
    """The issue's part in a swarm, by the manifests the controller applies (None: in none, or
    the manifests cannot be read now)."""
    if ctx.desired is None:
        return None
    return part_of(ctx.desired, ctx.rig, issue.id, issue.parent, issue.labels)


def file_subtasks(ctx: WorkerContext, titles: Sequence[str], description: str = "") -> Filed:
    """What gt swarm file does inside a swarm's planner: each title a subtask (a child of the
    planning issue, blocked by it), and the review issue made, or blocked by the new ones too."""
    hook = hook_of(ctx)
    if hook is None:
        raise UsageError(f"nothing is hooked to {ctx.role}: gt swarm file files the subtasks of a swarm's "
                         "planning issue, from inside its planner's session")
    if ctx.desired is None:
        raise UsageError("the town's manifests cannot be read, so its swarms are not known: fix them first")
    part = swarm_part(ctx, hook)
    if part is None or part.role is not SwarmRole.planner:
        raise UsageError(f"{hook.id} is not a swarm's planning issue (a listed issue of a convoy with "
                         "spec.swarm): nothing filed")
    titles = [t.strip() for t in titles]
    if not titles or not all(titles):
        raise UsageError("every subtask needs a title")
    children = [i for i in ctx.store.list() if i.parent == hook.id]
    review = next((i for i in children if REVIEW_LABEL in i.labels), None)
    if review is not None and review.status != "open":
        raise UsageError(f"the review {review.id} of {hook.id} is {review.status} already: too late to add "
                         "subtasks")
    # A planner restarted before gt done files again: a subtask already filed is not filed twice.
    filed = {i.title.strip() for i in children if REVIEW_LABEL not in i.labels and i.status not in DONE_STATUSES}
    made = tuple(ctx.store.create(title, description=description.strip(), priority=hook.priority,
                                  labels=[TASK_LABEL], blocked_by=[hook.id], parent=hook.id)
                 for title in dict.fromkeys(titles) if title not in filed)
    tasks = [i for i in children if REVIEW_LABEL not in i.labels and i.status not in DONE_STATUSES] + list(made)
    if review is None:
        text = REVIEW_TEXT.format(convoy=part.convoy.name, planning=hook.id, title=hook.title)
        review = ctx.store.create(f"Review: {hook.title}", description=text, priority=hook.priority,
                                  labels=[REVIEW_LABEL], blocked_by=[hook.id, *(t.id for t in tasks)],
                                  parent=hook.id)
    else:  # every open subtask blocks it, however it was filed
        for t in tasks:
            if t.id not in review.blocked_by:
                review = ctx.store.add_dependency(review.id, t.id)
    return Filed(hook, made, review)


# -- what gt prime says to each part ----------------------------------------------------------------


def brief(ctx: WorkerContext, hook: Issue) -> dict[str, Any] | None:
    """The hook's part in its swarm, for gt prime (None: in none)."""
    part = swarm_part(ctx, hook)
    if part is None:
        return None
    children = [i for i in ctx.store.list() if i.parent == part.planning]
    review = next((i.id for i in children if REVIEW_LABEL in i.labels), None)
    return {"convoy": part.convoy.name, "role": part.role.value, "model": part.model, "planning": part.planning,
            "models": {phase: getattr(part.swarm, phase) for phase in PHASES},
            "subtasks": [i.id for i in children if REVIEW_LABEL not in i.labels], "review": review}


def steps(swarm: dict[str, Any], hook: str, usual: Sequence[str]) -> list[str]:
    """gt prime's steps for a part of a swarm: the usual ones (work, gt hook, commit, gt done,
    ask), with what this part does first. Like them, they say ``{base}`` for the rig's branch."""
    models = {phase: _text(model) for phase, model in swarm["models"].items()}
    convoy, planning, hook = _text(swarm["convoy"]), _text(swarm["planning"]), _text(hook)
    if swarm["role"] == SwarmRole.planner.value:
        return [
            (f"You plan swarm {convoy}: do not do the work yourself. Break {hook} into subtasks "
             f"that can be worked at the same time, each small and self-contained, for {models['executor']} "
             "to do alone."),
            ("File them with `gt swarm file 'TITLE' 'TITLE' ...` (`--description DETAILS` gives one its "
             f"details: file it on its own). They become children of {hook} and start on "
             f"{models['executor']} once your plan is merged; a review on {models['reviewer']} follows "
             "once they are all merged."),
            usual[1],
            f"Write your plan down in your worktree (plans/{hook}.md) and commit it.",
            *usual[3:],
        ]
    if swarm["role"] == SwarmRole.executor.value:
        return [(f"{hook} is one subtask of {planning} (swarm {convoy}); other workers do "
                 "the others at the same time, so keep to this one."), *usual]
    done = _text(", ".join(swarm["subtasks"]) or "none")
    return [(f"You review swarm {convoy}: every subtask of {planning} ({done}) is merged "
             "into {base}. Review the merged result, fix what is wrong, and write the review down in your "
             f"worktree (reviews/{hook}.md)."), *usual]


def _text(value: str) -> str:
    """A value put into a step, kept as it is when the step is formatted with {base}."""
    return value.replace("{", "{{").replace("}", "}}")
