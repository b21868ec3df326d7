"""Find each agent's program on the PATH its workers will have (see reconciler.clients.programs)."""

from __future__ import annotations

from reconciler.clients.programs import resolve, worker_path
from reconciler.model.desired import AgentSpec, DesiredState, RigSpec
from reconciler.model.observed import ProgramLookup


def lookup_program(desired: DesiredState, rig: RigSpec | None, agent: AgentSpec) -> ProgramLookup:
    """Where ``agent``'s program is for a worker of ``rig`` (None: a worker with no rig env)."""
    declared = (dict(rig.worker_env) if rig else {}) | dict(agent.env)
    search = worker_path(declared.get("PATH"))
    return ProgramLookup(rig.name if rig else "", agent.name, agent.program,
                         resolve(agent.program, search, desired.root), search)


def observe_programs(desired: DesiredState) -> tuple[ProgramLookup, ...]:
    """One lookup per rig and agent of the rig's Routing, and one for the coordinator's agent."""
    found = [lookup_program(desired, rig, agent) for rig in desired.rigs for agent in desired.routing_for(rig).agents]
    if desired.town.coordinator is not None:
        from reconciler.model.roles import TownRole
        from reconciler.plan.town import town_spec

        _, agent = town_spec(desired, TownRole.coordinator)
        found.append(lookup_program(desired, None, agent))
    return tuple(found)
