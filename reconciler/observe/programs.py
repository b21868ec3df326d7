"""Find each agent's program on the PATH its workers will have (see reconciler.programs)."""

from __future__ import annotations

from ..model import DesiredState
from ..observed import ProgramLookup
from ..programs import resolve, worker_path


def observe_programs(desired: DesiredState) -> tuple[ProgramLookup, ...]:
    """One lookup per rig and agent of the rig's Routing, with the PATH a worker of that rig gets."""
    found = []
    for rig in desired.rigs:
        for agent in desired.routing_for(rig).agents:
            declared = (dict(rig.worker_env) | dict(agent.env)).get("PATH")
            search = worker_path(declared)
            found.append(ProgramLookup(rig.name, agent.name, agent.program,
                                       resolve(agent.program, search, desired.root), search))
    return tuple(found)
