"""Worker names, worker specs and fingerprints: pure functions of the manifests."""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable, Collection

from reconciler.model.actions import WorkerSpec
from reconciler.model.desired import NAME_POOL, AgentSpec, DesiredState, ModelSpec, PromptVia, RigSpec
from reconciler.model.molecule import progress, step_prompt
from reconciler.model.observed import ObservedIssue, role_of, session_name
from reconciler.model.paths import TownPaths, rig_repo_path
from reconciler.model.swarm import part_of


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
                program_of: Callable[[str], str | None] | None = None, handoff: str = "") -> WorkerSpec:
    """Everything needed to start ``worker`` on ``issue``.

    ``program_of`` says where an agent's program was found (an absolute path, by agent
    name); where it says nothing the command keeps the program as declared. The fingerprint hashes what the
    manifests declare, so moving the program on disk is not drift, and neither is ``handoff``: the
    note a worker left for its next session (gt handoff), added to this start's prompt only; nor is
    the step of the issue's molecule this start's prompt names (a step done is no reason to restart).
    """
    override = desired.override_for(rig.name, issue.id)
    model, agent, chosen = route(desired, rig, issue.id, issue)
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
    message = override.message if override else None
    prompt = agent.start_prompt(rig.name, worker, issue.id, message)
    declared = agent.command + model.args + ((prompt,) if agent.prompt_via is PromptVia.args else ())
    at = progress(desired.steps_for(rig.name, issue.id), issue.labels, issue.done)
    step = step_prompt(at) if at is not None else ""
    if handoff or step:  # the note a handoff left, and the step, reach this one session; not what the worker is
        between = "\n\n" if agent.prompt_via is PromptVia.args else " "  # a typed newline would send early
        prompt = agent.start_prompt(rig.name, worker, issue.id, between.join(filter(None, [message, step, handoff])))
    started = agent.command + model.args + ((prompt,) if agent.prompt_via is PromptVia.args else ())
    program = program_of(agent.name) if program_of else None
    command = ((program,) + started[1:]) if program else started
    return WorkerSpec(
        rig=rig.name, worker=worker, issue=issue.id, session=session_name(rig.name, worker),
        repo=repo, branch=branch, base_branch=rig.branch, worktree=worktree,
        agent=agent.name, model=model.name, rule=chosen, command=command, env=env_pairs,
        fingerprint=fingerprint(declared, env_pairs, worktree, branch), nudge=agent.nudge,
        beads_dir=beads_dir, prompt=prompt if agent.prompt_via is PromptVia.type else "",
    )


def route(desired: DesiredState, rig: RigSpec, issue_id: str,
          issue: ObservedIssue | None) -> tuple[ModelSpec, AgentSpec, str]:
    """The model and agent an issue runs on, and what chose them (for plans and --why): the
    issue's own model and agent from its convoy, else its swarm phase's model, else the routing
    rules (the default model for an issue the store does not have)."""
    routing = desired.routing_for(rig)
    override = desired.override_for(rig.name, issue_id)
    if issue is None:
        model, rule = routing.model(routing.default), None
    else:
        model, rule = routing.pick(issue.labels, issue.title, issue.issue_type, issue.priority)
    chosen = rule.describe() if rule else "default"
    part = part_of(desired, rig.name, issue_id, issue.parent, issue.labels) if issue is not None else None
    if part is not None:  # a swarm's phase beats the rules
        model, chosen = routing.model(part.model), f"swarm {part.convoy.name}: {part.role.value}"
    if override is not None and override.model is not None:  # the convoy's word beats the rules
        model, chosen = routing.model(override.model), f"override in convoy {override.convoy}"
    agent = routing.agent(model.agent)
    if override is not None and override.agent is not None:
        agent = routing.agent(override.agent)
        chosen += f"; agent {override.agent} by override in convoy {override.convoy}"
    return model, agent, chosen
