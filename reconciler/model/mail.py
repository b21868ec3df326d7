"""Mail between workers, the refinery, the witness, the coordinator and the overseer.

A message is a Beads issue in the town's own store (type ``message``, assigned to its recipient),
labelled ``gt:message``, ``from:<address>``, ``msg-type:<TYPE>`` and, for a reply, ``reply-to:<id>``.
Read or archived means closed. Only the label scheme lives here; the store is the caller's.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

MESSAGE_LABEL = "gt:message"
ARCHIVED_LABEL = "gt:archived"
MESSAGE_ISSUE_TYPE = "message"
ADDRESS = re.compile(r"^[a-z][-a-z0-9]{0,39}(/[a-z][-a-z0-9]{0,39}){0,2}$")


class MessageType(enum.StrEnum):
    """The protocol's subjects, as Gas Town names them."""

    WORKER_DONE = "WORKER_DONE"
    MERGE_READY = "MERGE_READY"
    MERGED = "MERGED"
    MERGE_FAILED = "MERGE_FAILED"
    REWORK_REQUEST = "REWORK_REQUEST"
    HELP = "HELP"
    CONVOY_LANDED = "CONVOY_LANDED"
    MESSAGE = "MESSAGE"  # anything a person or an agent writes


@dataclass(frozen=True)
class Envelope:
    """Who a message is from, what kind it is, and what it answers."""

    sender: str
    kind: MessageType
    reply_to: str | None = None

    def labels(self) -> list[str]:
        return [MESSAGE_LABEL, f"from:{self.sender}", f"msg-type:{self.kind.value}",
                *([f"reply-to:{self.reply_to}"] if self.reply_to else [])]

    @classmethod
    def of(cls, labels: Iterable[str]) -> Envelope:
        found = {k: v for k, _, v in (label.partition(":") for label in labels)}
        kind = found.get("msg-type", "")
        return cls(found.get("from", "?"), MessageType(kind) if kind in MessageType.__members__ else
                   MessageType.MESSAGE, found.get("reply-to") or None)


CONVOY_LABEL = "convoy:"  # on a CONVOY_LANDED message: which convoy landed
ISSUE_LABEL = "issue:"  # on a REWORK_REQUEST (and the HELP after too many): which issue


def refinery_of(rig: str) -> str:
    return f"{rig}/refinery"


def witness_of(rig: str) -> str:
    return f"{rig}/witness"
