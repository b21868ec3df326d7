"""Worker names, worker specs and fingerprints: pure functions of the manifests."""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable, Collection

from reconciler.model.actions import WorkerSpec
from reconciler.model.desired import NAME_POOL, DesiredState, IssueOverride, PromptVia, RigSpec, RoutingRule
from reconciler.model.observed import ObservedIssue, role_of, session_name
from reconciler.model.paths import TownPaths, rig_repo_path


def next_worker_name(rig: RigSpec, taken: Collection[str]) -> str:
    """The first name of the rig's list (or the pool) that no worker of the rig holds."""
    for name in rig.worker_names or NAME_POOL:
        if name not in taken:
            return name
    n = 1
    while f"w{n}" in taken:
        n += 1
    return f"w{n}"




def fingerprint(command: tuple[str, ...], env: tuple[tuple[str, str], ...], cwd: str, branch: str) -> str:
    """A hash of exactly what a restart would change: command, env, cwd, branch."""
    blob = json.dumps([list(command), [list(p) for p in env], cwd, branch], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def worker_spec(desired: DesiredState, rig: RigSpec, worker: str, issue: ObservedIssue,
                program_of: Callable[[str], str | None] | None = None) -> WorkerSpec:
    """Everything needed to start ``worker`` on ``issue``.

    ``program_of`` says where an agent's program was found (an absolute path, by agent
    name); where it says nothing the command keeps the program as declared. The fingerprint hashes what the
    manifests declare, so moving the program on disk is not drift.
    """
    routing = desired.routing_for(rig)
    override = desired.override_for(rig.name, issue.id)
    model, rule = routing.pick(issue.labels, issue.title, issue.issue_type, issue.priority)
    if override is not None and override.model is not None:  # the convoy's word beats the rules
        model, rule = routing.model(override.model), None
    agent = routing.agent(override.agent if override is not None and override.agent else model.agent)
    repo = rig_repo_path(desired, rig)
    worktree = TownPaths(desired.root).worktree(rig.name, worker)
    branch = f"gt/{worker}/{issue.id}"
    beads_dir = posixpath.join(repo, rig.beads_path)
    role = role_of(rig.name, worker)
    env = dict(rig.worker_env) | dict(agent.env) | {
        "GT_TOWN": desired.root,
        "GT_RIG": rig.name,
        "GT_WORKER": worker,
        "GT_ISSUE": issue.id,
        "GT_ROLE": role,
        "GT_BRANCH": branch,
        "GT_AGENT": agent.name,
        "GT_MODEL": model.name,
        "GT_BEADS_DIR": beads_dir,
        "BEADS_DIR": beads_dir,
        "BD_ACTOR": role,
    }
    env_pairs = tuple(sorted(env.items()))
    prompt = agent.start_prompt(rig.name, worker, issue.id, override.message if override else None)
    declared = agent.command + model.args + ((prompt,) if agent.prompt_via is PromptVia.args else ())
    program = program_of(agent.name) if program_of else None
    command = ((program,) + declared[1:]) if program else declared
    return WorkerSpec(
        rig=rig.name, worker=worker, issue=issue.id, session=session_name(rig.name, worker),
        repo=repo, branch=branch, base_branch=rig.branch, worktree=worktree,
        agent=agent.name, model=model.name, rule=_chosen(rule, override), command=command, env=env_pairs,
        fingerprint=fingerprint(declared, env_pairs, worktree, branch), nudge=agent.nudge,
        beads_dir=beads_dir, prompt=prompt if agent.prompt_via is PromptVia.type else "",
    )


def _chosen(rule: RoutingRule | None, override: IssueOverride | None) -> str:
    """What picked the model (and the agent, when the convoy names one), for plans and --why."""
    if override is not None and override.model is not None:
        chosen = f"override in convoy {override.convoy}"
    elif rule is None:
        chosen = "default"
    else:
        conds = [f"{k}={v!r}" for k, v in (("label", rule.label), ("title", rule.title),
                                            ("type", rule.issue_type), ("priority", rule.priority))
                 if v is not None]
        chosen = "rule " + " ".join(conds)
    if override is not None and override.agent is not None:
        chosen += f"; agent {override.agent} by override in convoy {override.convoy}"
    return chosen
