"""gt mail: send, list, read, reply to and archive messages in the town's store.

Addresses are ``overseer`` (the Town's), ``coordinator``, ``<rig>/workers/<name>``,
``<rig>/refinery`` and ``<rig>/witness``. Reading a message closes it; archiving closes it and
labels it archived; the inbox lists what is still open, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.clients.beads import Issue, IssueStore
from reconciler.clients.stores import post
from reconciler.errors import IssueNotFound, UsageError
from reconciler.model.mail import (
    ADDRESS,
    ARCHIVED_LABEL,
    MESSAGE_LABEL,
    Envelope,
    MessageType,
)

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Message:
    id: str
    to: str
    sender: str
    kind: MessageType
    subject: str
    body: str
    read: bool
    archived: bool
    reply_to: str | None
    created: str
    labels: tuple[str, ...] = ()  # all of them: what issue or convoy it is about, too

    @classmethod
    def of(cls, issue: Issue) -> Message:
        envelope = Envelope.of(issue.labels)
        return cls(issue.id, issue.assignee or "", envelope.sender, envelope.kind, issue.title,
                   issue.description, issue.status == "closed", ARCHIVED_LABEL in issue.labels,
                   envelope.reply_to, issue.created_at or "", tuple(issue.labels))

    def about(self, prefix: str) -> list[str]:
        """What its ``prefix`` labels name (``issue:``, ``convoy:``)."""
        return [label[len(prefix):] for label in self.labels if label.startswith(prefix)]

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "to": self.to, "from": self.sender, "type": self.kind.value,
                "subject": self.subject, "body": self.body, "read": self.read, "archived": self.archived,
                "replyTo": self.reply_to, "created": self.created}


def check_address(address: str) -> str:
    if not ADDRESS.fullmatch(address):
        raise UsageError(f"{address!r} is not a mail address: overseer, coordinator, RIG/workers/NAME, "
                         "RIG/refinery or RIG/witness")
    return address


def send(store: IssueStore, *, to: str, sender: str, kind: MessageType, subject: str, body: str = "",
         reply_to: str | None = None) -> Message:
    check_address(to)
    if not subject.strip():
        raise UsageError("a message needs a subject")
    if len(body.encode()) > MAX_BODY:
        raise UsageError(f"the message is over {MAX_BODY // 1024} KiB")
    return Message.of(post(store, to, Envelope(sender, kind, reply_to), subject.strip().splitlines()[0], body))


def inbox(store: IssueStore, address: str, *, everything: bool = False) -> list[Message]:
    """Messages to ``address``: unread ones, or with ``everything`` the read and archived too."""
    return _oldest_first(store.list(label=MESSAGE_LABEL, assignee=address, status=None if everything else "open"))


def every_message(store: IssueStore) -> list[Message]:
    """The town's whole mail, whoever it is to, read or not, oldest first."""
    return _oldest_first(store.list(label=MESSAGE_LABEL))


def _oldest_first(found: list[Issue]) -> list[Message]:
    # Stable: messages of the same second keep the store's order, which is the order they were sent.
    return sorted((Message.of(i) for i in found), key=lambda m: m.created)


def get(store: IssueStore, message_id: str) -> Message:
    try:
        issue = store.get(message_id)
    except IssueNotFound:
        raise UsageError(f"no message {message_id!r} in the town's mail") from None
    if MESSAGE_LABEL not in issue.labels:
        raise UsageError(f"{message_id} is not a message")
    return Message.of(issue)


def read(store: IssueStore, message_id: str) -> Message:
    """The message, marked read (closed) if it was not."""
    message = get(store, message_id)
    if not message.read:
        store.close(message_id, "read")
    return message


def archive(store: IssueStore, message_ids: list[str]) -> list[Message]:
    done = []
    for message_id in message_ids:
        message = get(store, message_id)
        store.update(message_id, add_labels=[ARCHIVED_LABEL])
        if not message.read:
            store.close(message_id, "archived")
        done.append(get(store, message_id))
    return done


def reply(store: IssueStore, message_id: str, *, sender: str, body: str) -> Message:
    """Answer a message: to its sender, subject ``Re: ...``, threaded by ``reply-to``."""
    original = get(store, message_id)
    if original.sender == "?":
        raise UsageError(f"{message_id} names no sender to reply to")
    subject = original.subject if original.subject.startswith("Re: ") else f"Re: {original.subject}"
    return send(store, to=original.sender, sender=sender, kind=MessageType.MESSAGE, subject=subject,
                body=body, reply_to=original.id)
