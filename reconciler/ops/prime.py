"""gt prime: what an agent reads when it starts: who it is, its hook, its mail, what to do."""

from __future__ import annotations

from typing import Any

from reconciler.model.molecule import step_prompt
from reconciler.ops.molecule import progress_of
from reconciler.ops.worker import WorkerContext, hook_of, unread_mail

STEPS = (
    "Work the issue on your hook now. Do not ask for confirmation: it is yours.",
    "Run `gt hook` once when you start, so the issue shows in progress.",
    "Work in your worktree, on your branch. Commit as you go (git add, git commit).",
    ("When the work is done and committed, run `gt done`. The refinery merges your branch "
    "into {base} and closes the issue."),
    ("Blocked, or need a decision? Say so in your session and stop. An idle worker is nudged, "
    "then reported to the overseer with HELP mail; the overseer can attach to your session."),
)
# In place of the gt done step, for an issue with a molecule (gt mol current shows the same).
MOLECULE_STEP = ("Work the current step of the molecule below, and only that one. When it is done and committed, "
                 "run `gt done --continue`: it records the step and prints the next; stay on your branch. After "
                 "the last step, `gt done --continue` (or `gt done`) reports the issue done and the refinery "
                 "merges your branch into {base}.")
STEP_MARKS = {"done": "x", "current": ">", "pending": " "}
NO_HOOK_STEPS = (
    ("Nothing is on your hook: there is no work for you right now. Stop and wait; "
    "you will be nudged when there is."),
)


def prime_document(ctx: WorkerContext) -> dict[str, Any]:
    from reconciler.ops.swarm import brief
    from reconciler.ops.swarm import steps as swarm_steps

    hook = hook_of(ctx)
    mail = unread_mail(ctx)
    swarm = brief(ctx, hook) if hook is not None else None  # its part in a swarm, if any
    steps: tuple[str, ...] = STEPS if hook is not None else NO_HOOK_STEPS
    molecule = progress_of(ctx, hook) if hook is not None else None
    if molecule is not None:
        steps = (*STEPS[:3], MOLECULE_STEP, *STEPS[4:])
    if hook is not None and swarm is not None:
        steps = tuple(swarm_steps(swarm, hook.id, steps))
    return {
        "rig": ctx.rig,
        "worker": ctx.worker,
        "role": ctx.role,
        "worktree": str(ctx.worktree),
        "branch": f"gt/{ctx.worker}/{hook.id}" if hook else None,
        "baseBranch": ctx.base_branch,
        "hook": None if hook is None else {
            "id": hook.id,
            "title": hook.title,
            "status": hook.status,
            "type": hook.issue_type,
            "priority": hook.priority,
            "labels": list(hook.labels),
            "description": hook.description,
            "design": hook.design,
            "acceptanceCriteria": hook.acceptance_criteria,
        },
        "molecule": None if molecule is None else molecule.as_dict() | {"prompt": step_prompt(molecule)},
        "mail": [{"id": m.id, "from": m.sender, "type": m.kind.value, "title": m.subject} for m in mail],
        "swarm": swarm,
        "steps": [s.format(base=ctx.base_branch) for s in steps],
    }


def prime_text(doc: dict[str, Any]) -> str:
    """The document as Markdown, for an agent's context."""
    lines = [f"# You are {doc['role']}, a gt worker", "",
             f"- rig: {doc['rig']}", f"- worker: {doc['worker']}", f"- worktree: {doc['worktree']}"]
    hook = doc["hook"]
    if hook is not None:
        lines += [f"- branch: {doc['branch']} (merged into {doc['baseBranch']} by the refinery)", "",
                  f"## Your hook: {hook['id']}: {hook['title']}", "",
                  f"status {hook['status']}, type {hook['type']}, priority {hook['priority']}"
                  + (f", labels {', '.join(hook['labels'])}" if hook["labels"] else "")]
        for heading, key in (("", "description"), ("### Design", "design"),
                             ("### Acceptance criteria", "acceptanceCriteria")):
            if hook[key]:
                lines += ["", *([heading, ""] if heading else []), hook[key].rstrip()]
    else:
        lines += ["", "## Your hook is empty"]
    molecule = doc.get("molecule")
    if molecule is not None:
        lines += ["", f"## Molecule: step {molecule['step']} of {molecule['total']}"
                  + (" (all done)" if molecule["done"] else ""), ""]
        lines += [f"{s['n']}. [{STEP_MARKS[s['state']]}] {s['text']}" for s in molecule["steps"]]
        if molecule["prompt"]:
            lines += ["", molecule["prompt"]]
    swarm = doc.get("swarm")
    if swarm:
        lines += ["", f"## Swarm {swarm['convoy']}: you are its {swarm['role']} (model {swarm['model']})", "",
                  "plan on {planner}, subtasks on {executor}, review on {reviewer}".format(**swarm["models"])]
        if swarm["subtasks"]:
            lines.append(f"subtasks of {swarm['planning']}: {', '.join(swarm['subtasks'])}"
                         + (f"; review: {swarm['review']}" if swarm["review"] else ""))
    mail = doc["mail"]
    lines += ["", f"## Mail: {len(mail)} unread"]
    lines += [f"- {m['id']} {m['type'] or 'message'} from {m['from'] or '?'}: {m['title']}" for m in mail]
    lines += ["", "## What to do", ""]
    lines += [f"{n}. {step}" for n, step in enumerate(doc["steps"], 1)]
    return "\n".join(lines)
