"""What every manifest-editing verb does once its edit is made: show it, write it, commit it, apply it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reconciler.cli.settings import Settings
from reconciler.errors import UsageError

if TYPE_CHECKING:
    from reconciler.ops.edits import ManifestEdit

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show the change; write nothing.")]
CommitOption = Annotated[bool, typer.Option("--commit", help="Commit the change (that file only).")]
ApplyOption = Annotated[
    bool, typer.Option("--apply", help="Commit the change, then carry it out once, as gt apply --yes does.")
]

DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}


def check_flags(dry_run: bool, commit: bool, apply: bool) -> None:
    if dry_run and (commit or apply):
        raise UsageError("--dry-run writes nothing, so it cannot --commit or --apply")


def diff_lines(s: Settings, diff: str) -> list[str]:
    lines = []
    for line in diff.splitlines():
        style = "bold" if line.startswith(("---", "+++")) else DIFF_STYLES.get(line[:1])
        lines.append(s.paint(line, style) if style else line)
    return lines


def finish(s: Settings, edit: ManifestEdit, *, dry_run: bool, commit: bool, apply: bool,
           unchanged: str = "", extra: dict[str, Any] | None = None) -> None:
    """Show the edit as a diff, then write it (unless --dry-run), commit it (--commit, --apply) and
    carry it out (--apply); exits with gt apply's code after --apply, else 0. ``extra`` goes into
    the JSON document too (gt sling --smart: how the model was chosen)."""
    from reconciler.ops import edits

    check_flags(dry_run, commit, apply)
    commit = commit or apply
    result: dict[str, Any] = {"path": edit.rel, "changed": edit.changed, "diff": edit.diff(),
                              "message": edit.message, "change": edit.change.value, "written": False,
                              "commit": None} | (extra or {})
    if not edit.changed:
        _done(s, result, unchanged or f"{edit.rel}: nothing to change")
        return
    to_stderr = s.json
    for line in diff_lines(s, edit.diff()):
        s.echo(line, err=to_stderr)
    if dry_run:
        _done(s, result, f"dry run: {edit.rel} not written")
        return
    if commit:
        edits.ensure_repository(edit.root)
    edits.write(edit)
    result["written"] = True
    if not commit:
        _done(s, result, f"wrote {edit.rel}; not committed: the controller applies only committed "
                         "manifests, so commit it (git commit, or --commit next time)")
        return
    sha = edits.commit(edit)
    result["commit"] = sha
    said = f"committed {sha[:12]} {edit.message!r} ({edit.rel} only)"
    if not apply:
        _done(s, result, said)
        return
    s.echo(said, err=to_stderr)
    from reconciler.cli.cmd_plan import apply_town, town_at

    code, applied = apply_town(s, town_at(s), yes=True)  # the commit just made, as gt apply reads it
    result["apply"] = applied
    result["applyExit"] = code
    if s.json:
        typer.echo(json.dumps(result, indent=2))
    raise typer.Exit(code)


def _done(s: Settings, result: dict[str, Any], line: str) -> None:
    s.echo(line, err=s.json)
    if s.json:
        typer.echo(json.dumps(result, indent=2))
