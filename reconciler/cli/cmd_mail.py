"""gt mail inbox|read|send|reply|archive."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from reconciler.cli import GtCommand, OutputOption, app, maps_errors, settings

mail_app = typer.Typer(no_args_is_help=True, help="Mail between workers, the refinery, the witness and you.")
app.add_typer(mail_app, name="mail")

AsOption = Annotated[
    str | None,
    typer.Option("--as", metavar="ADDRESS",
                 help="Whose mail: default, the worker or coordinator whose session this is, else the Town's "
                      "overseer."),
]


def _mailbox(ctx: typer.Context, address: str | None):  # type: ignore[no-untyped-def]
    """(the town's mail store acting as ``address``, that address)."""
    from reconciler.clients.stores import town_store
    from reconciler.loop.revision import load_applied
    from reconciler.model.observed import role_of
    from reconciler.ops.mail import check_address
    from reconciler.ops.worker import inside_coordinator, inside_worker

    root = settings(ctx).town_root()
    _, desired = load_applied(root)
    if address is None:
        address = role_of(os.environ["GT_RIG"], os.environ["GT_WORKER"]) if inside_worker() \
            else "coordinator" if inside_coordinator() else desired.town.overseer
    return town_store(desired, actor=check_address(address)), address


def _show(s, messages, title: str) -> None:  # type: ignore[no-untyped-def]
    if s.json:
        typer.echo(json.dumps([m.as_dict() for m in messages], indent=2))
        return
    s.echo(title)
    for m in messages:
        state = " (archived)" if m.archived else " (read)" if m.read else ""
        s.echo(f"  {m.id:12} {m.kind.value:15} from {m.sender:22} {m.subject}{state}")


def _sent(s, m) -> None:  # type: ignore[no-untyped-def]
    if s.json:
        typer.echo(json.dumps(m.as_dict(), indent=2))
    else:
        s.echo(f"sent {m.id} to {m.to}")


@mail_app.command("inbox", cls=GtCommand)
@maps_errors
def mail_inbox(
    ctx: typer.Context,
    everything: Annotated[bool, typer.Option("--all", help="Read and archived messages too.")] = False,
    as_: AsOption = None,
    output: OutputOption = None,
) -> None:
    """List unread mail, oldest first."""
    from reconciler.ops.mail import inbox

    s = settings(ctx, output)
    store, address = _mailbox(ctx, as_)
    messages = inbox(store, address, everything=everything)
    unread = sum(not m.read for m in messages)
    _show(s, messages, f"{address}: {unread} unread" + (f", {len(messages)} in all" if everything else ""))


@mail_app.command("read", cls=GtCommand)
@maps_errors
def mail_read(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(metavar="ID", help="The message's id (gt mail inbox lists them).")],
    as_: AsOption = None,
    output: OutputOption = None,
) -> None:
    """Show a message and mark it read."""
    from reconciler.ops.mail import read

    s = settings(ctx, output)
    store, _ = _mailbox(ctx, as_)
    m = read(store, message_id)
    if s.json:
        typer.echo(json.dumps(m.as_dict(), indent=2))
        return
    s.echo(f"{m.id} {m.kind.value} from {m.sender} to {m.to} at {m.created}"
           + (f" (re {m.reply_to})" if m.reply_to else ""))
    s.echo(f"Subject: {m.subject}")
    for line in (m.body.splitlines() or [""]):
        s.echo(f"  {line}")


@mail_app.command("send", cls=GtCommand)
@maps_errors
def mail_send(
    ctx: typer.Context,
    to: Annotated[str, typer.Argument(metavar="TO", help="overseer, coordinator, RIG/workers/NAME, RIG/refinery.")],
    subject: Annotated[str, typer.Argument(metavar="SUBJECT")],
    message: Annotated[str, typer.Option("--message", "-m", metavar="BODY", help="The body.")] = "",
    kind: Annotated[
        str, typer.Option("--type", metavar="TYPE", help="The protocol type (default MESSAGE).")
    ] = "MESSAGE",
    as_: AsOption = None,
    output: OutputOption = None,
) -> None:
    """Send a message."""
    from reconciler.errors import UsageError
    from reconciler.model.mail import MessageType
    from reconciler.ops.mail import send

    s = settings(ctx, output)
    if kind not in MessageType.__members__:
        raise UsageError(f"unknown message type {kind!r}: one of {', '.join(MessageType.__members__)}")
    store, address = _mailbox(ctx, as_)
    _sent(s, send(store, to=to, sender=address, kind=MessageType(kind), subject=subject, body=message))


@mail_app.command("reply", cls=GtCommand)
@maps_errors
def mail_reply(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(metavar="ID")],
    message: Annotated[str, typer.Option("--message", "-m", metavar="BODY", help="The body.")],
    as_: AsOption = None,
    output: OutputOption = None,
) -> None:
    """Answer a message to its sender (and mark it read)."""
    from reconciler.ops.mail import read, reply

    s = settings(ctx, output)
    store, address = _mailbox(ctx, as_)
    read(store, message_id)
    _sent(s, reply(store, message_id, sender=address, body=message))


@mail_app.command("archive", cls=GtCommand)
@maps_errors
def mail_archive(
    ctx: typer.Context,
    message_ids: Annotated[list[str], typer.Argument(metavar="ID...")],
    as_: AsOption = None,
    output: OutputOption = None,
) -> None:
    """Archive messages: out of the inbox, kept in the store."""
    from reconciler.ops.mail import archive

    s = settings(ctx, output)
    store, _ = _mailbox(ctx, as_)
    done = archive(store, message_ids)
    if s.json:
        typer.echo(json.dumps([m.as_dict() for m in done], indent=2))
    else:
        s.echo(f"archived {', '.join(m.id for m in done)}")
