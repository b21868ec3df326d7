"""What is applied against what is committed, for ``gt status``: only Git is read here (no YAML,
no schemas), so status stays fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.clients.git_tree import RevisionError, TownRepository


def revision_status(root: Path, source: dict[str, Any] | None) -> dict[str, Any]:
    """What is applied against what is committed now, for ``gt status``: ``source`` is what the
    controller reported applying (None with no controller). Read live, so a commit made since the
    controller's last pass shows as not applied yet."""
    source = dict(source or {})
    repo = TownRepository.find(root)
    if repo is None or "worktree" in source:
        return source | ({} if repo else {"worktree": source.get("worktree", "not a Git repository")})
    branch = source.get("branch") or repo.checked_out_branch() or "HEAD"
    try:
        tip = repo.branch_tip(branch)
    except RevisionError as exc:
        return source | {"branch": branch, "tipError": str(exc)}
    applied = source.get("commit")
    behind = repo.commits_between(applied, tip) if applied and applied != tip else 0
    changes = repo.uncommitted()
    return source | {"branch": branch, "tip": tip, "behind": behind,
                     "uncommitted": [{"path": p, "change": what} for p, what in changes]}


def revision_lines(info: dict[str, Any]) -> list[tuple[str, str]]:
    """``revision_status`` as (text, level) lines: level is ``info`` or ``warn``."""
    if "worktree" in info:
        return [(f"manifests read from the working tree ({info['worktree']})", "info")]
    if "tip" not in info:
        return [(info["tipError"], "warn")] if info.get("tipError") else []
    branch, tip, applied = info["branch"], info["tip"][:7], info.get("commit")
    lines = []
    if not applied:
        lines.append((f"manifests at {tip} ({branch})", "info"))
    elif applied == info["tip"]:
        lines.append((f"applied {applied[:7]} ({branch}), the newest commit", "info"))
    else:
        behind = info.get("behind", 0)
        lag = f"{behind} commit{'s' if behind != 1 else ''} not applied" if behind else "not applied"
        lines.append((f"applied {applied[:7]} ({branch}); manifests at {tip}: {lag}", "warn"))
    if info.get("rejected"):
        kept = applied[:7] if applied else "nothing"
        rejected = info["rejected"][:7]
        lines.append((f"commit {rejected} not applied: its manifests are invalid (errors below); {kept} stays applied",
                      "warn"))
    changes = [(c["path"], c["change"]) for c in info.get("uncommitted") or []]
    if changes:
        lines.append((f"uncommitted changes under manifests/ are not applied: {listed_changes(changes)}", "warn"))
    return lines


def listed_changes(changes: list[tuple[str, str]], most: int = 5) -> str:
    shown = ", ".join(f"{path} ({what})" for path, what in changes[:most])
    return shown + (f" and {len(changes) - most} more" if len(changes) > most else "")
