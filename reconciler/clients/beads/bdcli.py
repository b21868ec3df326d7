"""The ``bd`` backend: the issue store driven through the real Beads CLI.

Every call is ``bd <command> ... --json --actor=<actor>`` run without a shell,
in the rig root so bd finds that rig's ``.beads``. bd's output has changed
shape across releases, so the reader accepts the ``{schema_version, data}``
envelope and the raw value, drops leading ``warning:`` lines, and treats
empty stdout with something on stderr as a failure (some releases exit 0
on errors).

bd has no compare-and-set for hooks, so ``hook`` checks with ``show``, writes
with ``update`` and reads back with ``show``, like Gas Town's sling does. Two
hookers racing between the check and the write can still both write; the
read-back makes the loser see the winner in most interleavings, not all.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import re
import subprocess
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any, Final

from reconciler.clients.beads import (
    UNSET,
    Issue,
    Readiness,
    _Unset,
    blocking,
    check_new_id,
    hook_needed,
    status_set,
    unhook_needed,
)
from reconciler.errors import BdCommandError, HookConflict, IssueNotFound, StoreError
from reconciler.model.observed import HELD_STATUSES

log = logging.getLogger(__name__)
GUARD_FAILED = 13  # bd's exit status when an --if-* guard did not hold (nothing was written)

_NOT_FOUND_MARKERS: Final = ("not found", "no issue found", "no issues found matching")


class HookNotLanded(StoreError):
    """bd accepted the hook but a read-back does not show it."""

    def __init__(self, issue_id: str, assignee: str, attempts: int) -> None:
        self.issue_id, self.assignee, self.attempts = issue_id, assignee, attempts
        super().__init__(
            f"hook of {issue_id} to {assignee} did not show on read-back after {attempts} tries"
        )


def strip_warnings(stdout: str) -> str:
    """Drop leading blank and ``warning:`` lines some bd versions print to stdout."""
    lines = stdout.splitlines(keepends=True)
    start = 0
    while start < len(lines):
        head = lines[start].strip()
        if head and not head.lower().startswith("warning:"):
            break
        start += 1
    return "".join(lines[start:])


def _error_message(text: str) -> str | None:
    """The message of a ``{"error": ..., "hint": ...}`` document, if text is one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict) and isinstance(value.get("data"), dict) and "schema_version" in value:
        value = value["data"]  # the envelope: {"schema_version": 1, "data": {"error": ...}}
    if not isinstance(value, dict) or "error" not in value:
        return None
    message = str(value["error"])
    hint = value.get("hint")
    return f"{message} (hint: {hint})" if hint else message


def decode_output(argv: list[str], returncode: int, stdout: str, stderr: str) -> Any:
    """bd's answer as JSON (envelope removed), or None for no output; raises BdCommandError."""
    body = strip_warnings(stdout).strip()
    if returncode != 0:
        reason = _error_message(body) or _error_message(stderr.strip()) or ""
        raise BdCommandError(argv, returncode, stderr, reason)
    if not body:
        if stderr.strip():
            raise BdCommandError(argv, returncode, stderr, f"no output; stderr: {stderr.strip()}")
        return None
    if body.startswith("No issues found"):
        return []  # bd 0.58 printed this instead of [] for an empty list
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BdCommandError(argv, returncode, stderr, f"unreadable JSON: {exc.msg}") from None
    if isinstance(value, dict):
        if "error" in value and "data" not in value and "id" not in value:
            raise BdCommandError(argv, returncode, stderr, _error_message(body) or "error")
        if "data" in value and "schema_version" in value:
            return value["data"]
    return value


def _records(data: Any) -> builtins.list[dict[str, Any]]:
    """The issue records in an answer that may be one object or an array."""
    items = data if isinstance(data, builtins.list) else [data] if isinstance(data, dict) else []
    return [item for item in items if isinstance(item, dict)]


def _is_not_found(error: BdCommandError) -> bool:
    text = f"{error} {error.stderr}".lower()
    return any(marker in text for marker in _NOT_FOUND_MARKERS)


class BdStore:
    """The issue store of the rig at ``root``, through the ``bd`` executable."""

    def __init__(
        self,
        root: Path,
        prefix: str,
        actor: str = "gt",
        *,
        bd: str = "bd",
        timeout: float = 60.0,
        hook_attempts: int = 3,
        beads_path: str = ".beads",
    ) -> None:
        self.root = Path(root)
        self.prefix = prefix
        self.actor = actor
        self.bd = bd
        self.timeout = timeout
        self.hook_attempts = hook_attempts
        self.beads_dir = self.root / beads_path
        self._guards: bool | None = None  # whether this bd takes --if-status/--if-assignee (1.3.0+)

    def run(self, *args: str) -> Any:
        """Run one bd command and return its decoded JSON answer."""
        argv = [self.bd, *args, "--json", f"--actor={self.actor}"]
        # The rig's store, whatever the caller's environment says; the actor under both names bd knows.
        env = dict(os.environ, BD_JSON_ENVELOPE="1", BEADS_DIR=str(self.beads_dir),
                   BEADS_ACTOR=self.actor, BD_ACTOR=self.actor)
        try:
            proc = subprocess.run(
                argv,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise BdCommandError(argv, 127, "", f"{self.bd} not found on PATH") from None
        except subprocess.TimeoutExpired:
            raise BdCommandError(argv, -1, "", f"timed out after {self.timeout:g}s") from None
        log.debug("ran %s in %s: exit %d", argv, self.root, proc.returncode)
        return decode_output(argv, proc.returncode, proc.stdout, proc.stderr)

    # -- reads -----------------------------------------------------------------

    def get(self, issue_id: str) -> Issue:
        try:
            data = self.run("show", issue_id)
        except BdCommandError as exc:
            if _is_not_found(exc):
                raise IssueNotFound(issue_id) from exc
            raise
        for record in _records(data):
            if record.get("id") == issue_id and record.get("status") != "tombstone":
                return Issue.from_record(record)
        raise IssueNotFound(issue_id)

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        assignee: str | None = None,
        label: str | None = None,
    ) -> builtins.list[Issue]:
        wanted = status_set(status)
        args = ["list", "--limit", "0", "--flat"]
        if wanted is not None and len(wanted) == 1:
            args.append(f"--status={next(iter(wanted))}")
        else:
            args.append("--all")  # bd hides closed issues unless told otherwise
        if assignee is not None:
            args.append(f"--assignee={assignee}")
        if label is not None:
            args.append(f"--label={label}")
        issues = [Issue.from_record(r) for r in _records(self.run(*args))]
        # Filter again: older bd releases ignore some of these flags.
        return [
            i
            for i in issues
            if i.status != "tombstone"
            and (wanted is None or i.status in wanted)
            and (assignee is None or i.assignee == assignee)
            and (label is None or label in i.labels)
        ]

    def overview(self, ids: Collection[str], assignee_prefix: str, parents: Collection[str] = ()
                 ) -> tuple[builtins.list[Issue], dict[str, tuple[str, ...]]]:
        issues, wanted, parents = self.list(), set(ids), set(parents)
        chosen = [i for i in issues if i.id in wanted or (i.assignee or "").startswith(assignee_prefix)
                  or i.parent in parents]
        return chosen, blocking({i.id: Readiness.of(i) for i in issues})

    def ready(self) -> builtins.list[Issue]:
        issues = [Issue.from_record(r) for r in _records(self.run("ready", "--limit", "0"))]
        return sorted((i for i in issues if i.status == "open"), key=Issue.sort_key)

    # -- writes ----------------------------------------------------------------

    def create(
        self,
        title: str,
        *,
        description: str = "",
        priority: int = 2,
        issue_type: str = "task",
        labels: Iterable[str] = (),
        assignee: str | None = None,
        blocked_by: Iterable[str] = (),
        issue_id: str | None = None,
        parent: str | None = None,
    ) -> Issue:
        # --flag=value throughout, so a value starting with "-" is never a flag.
        args = ["create", f"--title={title}", f"--type={issue_type}", f"--priority={priority}"]
        if description:
            args.append(f"--description={description}")
        if label_list := list(labels):
            args.append(f"--labels={','.join(label_list)}")
        if assignee:
            args.append(f"--assignee={assignee}")
        if deps := [f"blocks:{target}" for target in blocked_by]:
            args.append(f"--deps={','.join(deps)}")
        if issue_id is not None:
            check_new_id(issue_id, self.prefix)
            args.append(f"--id={issue_id}")
        if parent is not None:
            args.append(f"--parent={parent}")
        created = _records(self.run(*args))
        if not created or not isinstance(created[0].get("id"), str):
            raise BdCommandError([self.bd, *args], 0, "", "create answered without an id")
        log.info("created issue %s", created[0]["id"])
        return self.get(created[0]["id"])

    def update(
        self,
        issue_id: str,
        *,
        status: str | None = None,
        assignee: str | None | _Unset = UNSET,
        add_labels: Iterable[str] = (),
        remove_labels: Iterable[str] = (),
        notes: str | None = None,
    ) -> Issue:
        args: builtins.list[str] = []
        if status is not None:
            args.append(f"--status={status}")
        if not isinstance(assignee, _Unset):
            args.append(f"--assignee={assignee or ''}")  # empty clears it
        args += [f"--add-label={label}" for label in add_labels]
        args += [f"--remove-label={label}" for label in remove_labels]
        if notes is not None:
            args.append(f"--notes={notes}")
        if args:
            self._write("update", issue_id, *args)
            log.info("updated issue %s", issue_id)
        return self.get(issue_id)

    def close(self, issue_id: str, reason: str) -> Issue:
        # --force: the reconciler closes on its own authority, as the refinery does.
        self._write("close", issue_id, f"--reason={reason}", "--force")
        log.info("closed issue %s", issue_id)
        return self.get(issue_id)

    def add_dependency(self, issue_id: str, depends_on: str, dep_type: str = "blocks") -> Issue:
        current = self.get(issue_id)
        if not any(d.depends_on_id == depends_on and d.type == dep_type for d in current.dependencies):
            try:
                self.run("dep", "add", issue_id, depends_on, f"--type={dep_type}")
            except BdCommandError as exc:
                if _is_not_found(exc):
                    raise IssueNotFound(depends_on) from exc
                raise
            log.info("linked issue %s to %s (%s)", issue_id, depends_on, dep_type)
        return self.get(issue_id)

    def guards(self) -> bool:
        """Whether this bd has guarded updates (``--if-status``/``--if-assignee``, bd 1.3.0 and later)."""
        if self._guards is None:
            try:
                answer = self.run("version")
            except BdCommandError:
                answer = None
            text = str(answer.get("version", "")) if isinstance(answer, dict) else str(answer or "")
            found = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
            self._guards = found is not None and tuple(int(n) for n in found.groups()) >= (1, 3, 0)
        return self._guards

    def hook(self, issue_id: str, assignee: str) -> Issue:
        """Compare-and-set: with bd 1.3.0+ one guarded update (exit 13: another writer won);
        with older bd, write and read back."""
        if self.guards():
            return self._hook_guarded(issue_id, assignee)
        for attempt in range(1, self.hook_attempts + 1):
            current = self.get(issue_id)
            if not hook_needed(current, assignee):
                return current
            self._write("update", issue_id, "--status=hooked", f"--assignee={assignee}")
            after = self.get(issue_id)
            if after.assignee == assignee and after.status in HELD_STATUSES:
                log.info("hooked issue %s to %s", issue_id, assignee)
                return after
            if after.assignee not in (None, assignee):
                raise HookConflict(issue_id, after.status, after.assignee, assignee)
            log.warning("hook of %s to %s did not land on try %d", issue_id, assignee, attempt)
        raise HookNotLanded(issue_id, assignee, self.hook_attempts)

    def _hook_guarded(self, issue_id: str, assignee: str) -> Issue:
        current = self.get(issue_id)
        if not hook_needed(current, assignee):
            return current
        try:  # the whole id: bd resolves a prefix to whichever issue it names
            answer = self.run("update", issue_id, "--if-status", "open", "--if-assignee", "",
                              "--status=hooked", f"--assignee={assignee}")
        except BdCommandError as exc:
            if exc.returncode == GUARD_FAILED:
                now = self.get(issue_id)
                raise HookConflict(issue_id, now.status, now.assignee, assignee) from exc
            if _is_not_found(exc):
                raise IssueNotFound(issue_id) from exc
            raise
        answered = {str(r.get("id")) for r in _records(answer)}
        if answered and answered != {issue_id}:
            raise StoreError(f"bd update {issue_id} answered for {', '.join(sorted(answered))}: not hooked")
        after = self.get(issue_id)
        if after.assignee != assignee or after.status not in HELD_STATUSES:
            raise HookConflict(issue_id, after.status, after.assignee, assignee)
        log.info("hooked issue %s to %s (guarded)", issue_id, assignee)
        return after

    def unhook(self, issue_id: str, assignee: str) -> Issue:
        current = self.get(issue_id)
        if not unhook_needed(current, assignee):
            return current
        self._write("update", issue_id, "--status=open", "--assignee=")
        after = self.get(issue_id)
        if after.status != "open" or after.assignee is not None:
            raise StoreError(f"unhook of {issue_id} did not land: it is {after.status}")
        log.info("unhooked issue %s from %s", issue_id, assignee)
        return after

    def _write(self, command: str, issue_id: str, *args: str) -> None:
        try:
            self.run(command, issue_id, *args)
        except BdCommandError as exc:
            if _is_not_found(exc):
                raise IssueNotFound(issue_id) from exc
            raise
