"""The town's own sessions, beside the rigs' workers: the coordinator and the two views.

Each runs in the session ``gt-<role>`` on the town's tmux server. A worker's session is
``gt-<rig>-<worker>``, with a '-' after the rig, so no worker can ever take one of these names.
"""

from __future__ import annotations

import enum

from reconciler.model.observed import SESSION_PREFIX


class TownRole(enum.StrEnum):
    """A session of the town as a whole; the value is also the name ``gt attach`` takes."""

    coordinator = "coordinator"  # an agent the overseer talks to; also its mail address
    witness = "witness"  # a live gt status: health of every rig and worker
    refinery = "refinery"  # a live view of each rig's merge queue


VIEWS = (TownRole.witness, TownRole.refinery)


def town_session(role: TownRole) -> str:
    return f"{SESSION_PREFIX}{role.value}"


COORDINATOR_PROMPT = (
    "You are the coordinator of this Gas Town: the overseer's concierge. Run `gt prime` to see the "
    "town (rigs, convoys, workers, your mail and what needs attention), tell the overseer what you "
    "see, then wait for instructions. Work is given to workers by editing manifests (gt convoy "
    "create, gt sling, gt rig park); mail is gt mail."
)
