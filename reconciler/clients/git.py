"""Git effects: worker worktrees and the refinery's landing of finished branches."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from reconciler.clients.files import refuse_links
from reconciler.errors import BranchMoved, MergeRefused, RemoteMoved, TargetMoved, TerminalError, TransientError
from reconciler.model.actions import WorkerSpec
from reconciler.model.observed import ObservedWorktree

P = ParamSpec("P")
R = TypeVar("R")

FALLBACK_IDENTITY = ("gt", "gt@localhost")  # commits where git has no user.name/user.email


def _wrapped(fn: Callable[P, R]) -> Callable[P, R]:
    """Git's own errors leave this module as TerminalError, the original chained."""
    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        import git

        try:
            return fn(*args, **kwargs)
        except git.GitCommandError as exc:
            raise TerminalError(f"git {exc.command[1] if len(exc.command) > 1 else ''}: "
                                f"{(exc.stderr or str(exc)).strip()}") from exc
    return call


def _repo(path: str):  # type: ignore[no-untyped-def]
    import git

    try:
        return git.Repo(path, expand_vars=False)  # paths are literal: no $VAR or ~ expansion
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise TerminalError(f"{path} is not a git repository") from exc


@_wrapped
def ensure_worktree(spec: WorkerSpec) -> bool:
    """Make the worker's worktree on its branch; True when it was created, False when reused."""
    import git

    path = Path(spec.worktree)
    refuse_links(path, parents=3)  # .gt/worktrees/<rig>/<worker>: git would create it wherever a link points
    if path.exists():
        try:
            with git.Repo(path, expand_vars=False) as existing:
                current = existing.active_branch.name
        except (git.InvalidGitRepositoryError, TypeError) as exc:
            raise TerminalError(f"{path} exists but is not a worktree on {spec.branch}") from exc
        if current != spec.branch:
            raise TerminalError(f"{path} is a worktree on {current}, not {spec.branch}")
        return False
    with _repo(spec.repo) as repo:
        heads = {h.name for h in repo.heads}
        if spec.branch not in heads and spec.base_branch not in heads:
            raise TerminalError(f"branch {spec.base_branch} not found in {spec.repo}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            repo.git.worktree("prune")  # a worktree deleted by hand would block the add
            if spec.branch in heads:
                repo.git.worktree("add", str(path), spec.branch)
            else:
                repo.git.worktree("add", "-b", spec.branch, str(path), spec.base_branch)
        except git.GitCommandError as exc:
            raise TerminalError(f"git worktree add {path}: {exc.stderr.strip()}") from exc
    return True


@_wrapped
def remove_worktree(worktree: str, repo_path: str) -> str:
    """Remove a worktree that holds no uncommitted work; "" when removed, else why it was kept.

    Never forced: git refuses to remove a worktree with changes, and so do we.
    """
    import git

    if not Path(worktree).exists():
        return ""
    with _repo(repo_path) as repo:
        try:
            repo.git.worktree("remove", worktree)
        except git.GitCommandError as exc:
            return exc.stderr.strip().removeprefix("fatal: ") or "git worktree remove failed"
    return ""


GATE_TAIL = 20  # lines of a failed gate's output sent back to the worker


def run_gates(repo_path: str, scratch: str, commit: str, gates: Sequence[Sequence[str]], timeout: float) -> None:
    """Run the gates on ``commit`` (the merged result) in a scratch worktree at ``scratch``,
    removed afterwards; never in the user's checkout or the worker's."""
    if not gates:
        return
    path = Path(scratch)
    refuse_links(path, parents=3)  # .gt/scratch/<rig>/<issue>
    with _repo(repo_path) as repo:
        _drop_scratch(repo, path)  # left by a crash mid-gate
        path.parent.mkdir(parents=True, exist_ok=True)
        made = _git(Path(repo_path), "worktree", "add", "--detach", str(path), commit)
        if made.returncode != 0:  # gt's own trouble, not the worker's: tried again, never sent back
            raise TransientError(f"scratch worktree {path}: {made.stderr.strip()}", delay=30.0)
        try:
            for gate in gates:
                _run_gate(gate, path, timeout)
        finally:
            _drop_scratch(repo, path)


def _drop_scratch(repo, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Forced: the scratch worktree is gt's own, and a gate's build output is no one's work."""
    if path.exists():  # twice forced: a checkout cut short by a crash leaves the worktree locked
        repo.git.worktree("remove", "--force", "--force", str(path), with_exceptions=False)
    repo.git.worktree("prune")


def _run_gate(gate: Sequence[str], cwd: Path, timeout: float) -> None:
    named = " ".join(gate)
    try:
        proc = subprocess.run(list(gate), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MergeRefused(f"gate {named!r} timed out after {timeout:g}s on the merged result") from exc
    except OSError as exc:  # the rig's gate is broken, not the worker's branch: not sent back as rework
        raise TransientError(f"gate {named!r} could not run: {exc}", delay=60.0) from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-GATE_TAIL:]
        raise MergeRefused(f"gate {named!r} failed (exit {proc.returncode}) on the merged result: "
                           f"{' | '.join(tail[-3:])}",
                           f"gate {named!r} failed (exit {proc.returncode}) on the merged result; "
                           "its last output:\n" + "\n".join(f"    {line}" for line in tail))


def _identity(repo, head) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Author the landed commit as the worker's last commit; commit as the user, else as gt."""
    import git

    env = {"GIT_AUTHOR_NAME": head.author.name or "gt", "GIT_AUTHOR_EMAIL": head.author.email or "gt@localhost",
           "GIT_AUTHOR_DATE": head.authored_datetime.isoformat()}
    try:
        repo.git.var("GIT_COMMITTER_IDENT")
    except git.GitCommandError:  # no identity configured: git would refuse to commit
        env |= {"GIT_COMMITTER_NAME": "gt refinery", "GIT_COMMITTER_EMAIL": "gt@localhost"}
    return env


TRAILER_ISSUE, TRAILER_HEAD = "Gt-Issue", "Gt-Head"  # in every commit the refinery makes


@dataclass(frozen=True)
class Landing:
    base: str  # the rig branch's tip the merge was made on
    head: str  # the worker branch's head that was landed
    new: str  # the commit the rig branch moves to


@_wrapped
def branch_head(worktree: str) -> str:
    with _repo(worktree) as work:
        return str(work.head.commit.hexsha)


@_wrapped
def log_oneline(repo_path: Path, branch: str, limit: int = 100) -> list[str]:
    """``branch``'s history as ``git log --oneline`` shows it, newest first."""
    with _repo(str(repo_path)) as repo:
        text: str = repo.git.log(branch, "--oneline", "--no-decorate", "--no-color", f"-n{limit}", "--")
    return text.splitlines()


@_wrapped
def landed_commit(repo_path: str, target: str, issue_id: str, head: str, *, ancestry: bool) -> str | None:
    """The commit of ``target`` that holds ``head``'s work for ``issue_id``, or None.

    The newest commit whose trailers name both the issue and that head (squash, merge), or,
    with ``ancestry`` (the refinery recorded this merge), ``head`` itself when the target's
    history has it (rebase). Without a record, a head already in the target's history is a
    branch with no work of its own, not a landed one.
    """
    with _repo(repo_path) as repo:
        if ancestry and repo.is_ancestor(head, target):
            return head
        wanted = {f"{TRAILER_ISSUE}: {issue_id}", f"{TRAILER_HEAD}: {head}"}
        found: str = repo.git.log(target, "-F", f"--grep={TRAILER_HEAD}: {head}", "--format=%H%x00%B%x01",
                                  "-n", "50")
        for entry in found.split("\x01"):
            sha, _, body = entry.strip().partition("\x00")
            if sha and wanted <= {line.strip() for line in body.splitlines()}:
                return sha
    return None


@_wrapped
def land(spec: WorkerSpec, strategy: str, gates: Sequence[Sequence[str]], message: str, issue_id: str,
         before_advance: Callable[[Landing], None], *, scratch: str, gate_timeout: float = 600.0,
         publish: Callable[[Landing], None] | None = None) -> Landing:
    """Combine the worker's branch with the rig's, gate the result, then move the rig's branch to it.

    The gates run on the merged result in a scratch worktree (``scratch``). ``before_advance``
    is told the landing before the rig's branch moves (the refinery records it there, so a
    crash after that point resumes instead of merging again); ``publish`` (a push) runs after
    it, and the local branch moves only once that succeeded.
    """
    import git

    with _repo(spec.worktree) as work, _repo(spec.repo) as repo:
        if work.is_dirty(untracked_files=True):
            raise TerminalError(f"uncommitted changes in {spec.worktree}: commit them, then report done again")
        base = repo.commit(spec.base_branch).hexsha
        head = work.head.commit.hexsha
        if repo.is_ancestor(head, base):
            raise TerminalError(f"{spec.branch} has no commits that {spec.base_branch} lacks")
        env = _identity(repo, repo.commit(head))
        message = f"{message.rstrip()}\n\n{TRAILER_ISSUE}: {issue_id}\n{TRAILER_HEAD}: {head}\n"
        try:
            if strategy == "rebase":  # in the worker's own worktree: its branch becomes what lands
                with work.git.custom_environment(**env):
                    work.git.rebase(base)
                new = work.head.commit.hexsha
            else:
                tree = repo.git.merge_tree("--write-tree", base, head).splitlines()[0]
                parents = ["-p", base] + (["-p", head] if strategy == "merge" else [])
                with repo.git.custom_environment(**env):
                    new = repo.git.commit_tree(tree, *parents, "-m", message)
        except git.GitCommandError as exc:
            if strategy == "rebase":
                work.git.rebase("--abort", with_exceptions=False)
            if "conflict" in (exc.stdout + exc.stderr).lower() or exc.status == 1:
                files = _conflicting_files(repo, base, head)
                named = f" in {', '.join(files)}" if files else ""
                raise MergeRefused(f"{spec.branch} conflicts with {spec.base_branch}{named}",
                                   f"{spec.branch} conflicts with {spec.base_branch}; the files in conflict:\n"
                                   + "\n".join(f"    {f}" for f in files)) from exc
            raise TerminalError(f"{spec.branch} could not be combined with {spec.base_branch}: "
                                f"{exc.stderr.strip()}") from exc
        run_gates(spec.repo, scratch, str(new), gates, gate_timeout)
        if work.head.commit.hexsha != (new if strategy == "rebase" else head):
            raise BranchMoved(spec.branch, head)  # committed to while the gates ran: gated next time
        landing = Landing(base, head, str(new))
        before_advance(landing)
        if publish is None:
            _advance(repo, spec.base_branch, base, landing.new)
            return landing
        publish(landing)
        try:
            _advance(repo, spec.base_branch, base, landing.new)
        except TerminalError as exc:  # the remote has it: the next fetch brings the branch along
            raise TransientError(f"pushed {landing.new[:12]}, but {spec.base_branch} here did not follow: {exc}",
                                 delay=5.0) from exc
        return landing


@_wrapped
def _conflicting_files(repo, base: str, head: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The files a merge of ``head`` into ``base`` leaves in conflict (what a rework must fix)."""
    listed = repo.git.merge_tree("--write-tree", "--name-only", "--no-messages", base, head,
                                 with_exceptions=False)
    return sorted(dict.fromkeys(line.strip() for line in listed.splitlines()[1:] if line.strip()))[:20]


def advance(repo_path: str, branch: str, old: str, new: str) -> None:
    """Move ``branch`` from ``old`` to ``new`` (a compare-and-set: it fails if the branch moved)."""
    with _repo(repo_path) as repo:
        _advance(repo, branch, old, new)


def _advance(repo, branch: str, old: str, new: str) -> None:  # type: ignore[no-untyped-def]
    """Move ``branch`` from ``old`` to ``new``; where it is checked out, fast-forward that tree."""
    import git

    checkout = _checked_out_at(repo, branch)
    if repo.commit(branch).hexsha != old:  # someone moved it while the gates ran: merge again on top
        raise TargetMoved(branch, old)
    try:
        if checkout is not None:
            git.Repo(checkout, expand_vars=False).git.merge("--ff-only", new)
        else:
            repo.git.update_ref(f"refs/heads/{branch}", new, old)
    except git.GitCommandError as exc:
        if repo.commit(branch).hexsha != old:
            raise TargetMoved(branch, old) from exc
        raise TerminalError(f"could not advance {branch}: {exc.stderr.strip()}") from exc


@_wrapped
def delete_branch(repo_path: str, branch: str, head: str) -> str:
    """Delete a worker's branch whose work has landed: only while it still points at ``head``
    (the commit found on the rig's branch) and no worktree has it checked out. "" when deleted,
    else why it was kept."""
    import git

    with _repo(repo_path) as repo:
        where = _checked_out_at(repo, branch)
        if where is not None:
            return f"checked out at {where}"
        try:
            repo.git.update_ref("-d", f"refs/heads/{branch}", head)
        except git.GitCommandError as exc:
            return exc.stderr.strip().removeprefix("fatal: ") or "git update-ref -d failed"
    return ""


def _checked_out_at(repo, branch: str) -> str | None:  # type: ignore[no-untyped-def]
    path = None
    for line in repo.git.worktree("list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            path = line[len("worktree "):]
        elif line == f"branch refs/heads/{branch}":
            return path
    return None


DETACHED = "(detached HEAD)"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def worktree_branch(path: Path, repo: Path) -> str | None:
    """The branch checked out in worktree ``path`` of ``repo``; None when it is not one of its worktrees."""
    pointer = _read_text(path / ".git")
    if not pointer.startswith("gitdir:"):
        return None
    gitdir = Path(pointer[len("gitdir:"):].strip())
    if not gitdir.is_absolute():
        gitdir = path / gitdir
    try:
        if gitdir.resolve().parent.parent != (repo / ".git").resolve():
            return None
    except OSError:
        return None
    head = _read_text(gitdir / "HEAD")
    if head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/"):]
    return DETACHED if head else None


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env=os.environ | {"GIT_OPTIONAL_LOCKS": "0"})


def dirty_paths(path: Path) -> tuple[str, ...]:
    """Files of a worktree that differ from its last commit (untracked ones included)."""
    status = _git(path, "status", "--porcelain", "--untracked-files=all")
    if status.returncode != 0:
        return ("(git status failed)",)
    return tuple(line[3:] for line in status.stdout.splitlines() if line.strip())


def examine(path: Path, repo: Path, branch: str, base: str) -> ObservedWorktree:
    """Dirty paths, commits ahead, and whether merging the branch would change nothing."""
    dirty = dirty_paths(path)
    if branch == DETACHED:
        return ObservedWorktree(path.name, str(path), branch, dirty, None, False)
    ahead_run = _git(repo, "rev-list", "--count", f"{base}..{branch}")
    ahead = int(ahead_run.stdout.strip()) if ahead_run.returncode == 0 and ahead_run.stdout.strip().isdigit() else None
    if ahead == 0:
        landed = True
    else:
        merged = _git(repo, "merge-tree", "--write-tree", base, branch)
        tree = _git(repo, "rev-parse", f"{base}^{{tree}}")
        landed = merged.returncode == 0 and tree.returncode == 0 and \
            merged.stdout.split("\n", 1)[0].strip() == tree.stdout.strip()
    return ObservedWorktree(path.name, str(path), branch, dirty, ahead, landed)


def main_repository(path: Path) -> Path | None:
    """The repository a worktree (or any directory inside a repository) belongs to: the directory
    holding its common ``.git``; None when ``path`` is not in one."""
    if not path.is_dir():
        return None
    found = _git(path, "rev-parse", "--path-format=absolute", "--git-common-dir")
    if found.returncode != 0:
        return None
    common = Path(found.stdout.strip())
    return common.parent if common.name == ".git" else common


def checked_out_branch(repo: Path) -> str | None:
    found = _git(repo, "symbolic-ref", "-q", "HEAD")  # in full: --short says heads/x when a tag is x
    ref = found.stdout.strip() if found.returncode == 0 else ""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def author_identity(cwd: Path) -> str | None:
    """The name and email git would commit as here; None when git has no identity."""
    run = _git(cwd, "var", "GIT_AUTHOR_IDENT")
    return run.stdout.strip().rsplit(" ", 2)[0] if run.returncode == 0 else None


def prune_worktree_records(repo_path: str) -> None:
    """Forget worktrees whose directory is gone (git worktree prune); nothing else is touched."""
    _git(Path(repo_path), "worktree", "prune")


def commit_paths(root: Path, paths: list[str], message: str, branch: str | None = None, *,
                 own_repository: bool = False) -> str:
    """Commit exactly ``paths`` (relative to ``root``): whatever else is staged stays staged and out
    of the commit. With ``own_repository`` (a new town, a new rig) ``root`` is made a repository on
    ``branch`` unless it is one; otherwise the repository holding it commits (a town in a
    subdirectory of a larger repository), and one is made only when none does. Returns the commit.
    Git's own hooks run as for any commit."""
    if (own_repository and not (root / ".git").exists()) or \
            _git(root, "rev-parse", "--show-toplevel").returncode != 0:
        made = _git(root, "init", "-q", "-b", branch or "main")
        if made.returncode != 0:
            raise TerminalError(f"git init {root}: {made.stderr.strip()}")
    added = _git(root, "add", "--", *paths)
    if added.returncode != 0:
        raise TerminalError(f"git add: {added.stderr.strip()}")
    identity = [] if author_identity(root) else ["-c", f"user.name={FALLBACK_IDENTITY[0]}",
                                                 "-c", f"user.email={FALLBACK_IDENTITY[1]}"]
    done = _git(root, *identity, "commit", "-q", "--only", "-m", message, "--", *paths)
    if done.returncode != 0:
        raise TerminalError(f"git commit: {(done.stderr or done.stdout).strip()}")
    return _git(root, "rev-parse", "HEAD").stdout.strip()


def in_repository(root: Path) -> bool:
    """Whether ``root`` is inside a Git working tree."""
    run = _git(root, "rev-parse", "--is-inside-work-tree")
    return run.returncode == 0 and run.stdout.strip() == "true"


# -- rigs whose repository lives on a remote ---------------------------------------------------

REMOTE = "origin"


def clone(url: str, path: str, branch: str, progress: Callable[[str], None]) -> None:
    """Clone ``url`` at ``branch`` into ``path``, telling ``progress`` what git reports as it goes.

    Cloned beside the target and renamed into place, so a clone cut short (a crash, a network
    failure) never leaves a half repository where the rig's is expected.
    """
    target = Path(path)
    refuse_links(target, parents=2)  # .gt/repos/<rig>
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    target.parent.mkdir(parents=True, exist_ok=True)
    argv = ["git", "clone", "--progress", "--branch", branch, "--", url, str(partial)]
    said, last = "", ""
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_remote_env()) as proc:
        assert proc.stderr is not None
        for line in _progress_lines(proc.stderr):
            last = line
            phase = line.split(":", 1)[0]
            if phase != said or line.endswith("done."):  # a line per phase, and its end: not every percent
                progress(line)
                said = phase
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise TransientError(f"git clone {url}: {last or f'exit {proc.returncode}'}", delay=60.0)
    partial.rename(target)


def _progress_lines(stream) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Git's progress: lines ended by a newline or a carriage return (a percentage redrawn)."""
    buffer = b""
    while chunk := stream.read1(4096):
        buffer += chunk
        *lines, buffer = re.split(rb"[\r\n]", buffer)
        for raw in lines:
            if raw.strip():
                yield raw.decode(errors="replace").strip()
    if buffer.strip():
        yield buffer.decode(errors="replace").strip()


REMOTE_TIMEOUT = 300.0  # seconds a fetch or push may take before it counts as failed


def _remote_env() -> dict[str, str]:
    """Git talking to a remote never waits on a prompt: no password or host-key question on a
    terminal the controller does not have (credentials come from an agent or a helper)."""
    env = os.environ | {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


def _remote(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                              env=_remote_env(), timeout=REMOTE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"git {args[0]} {REMOTE}: no answer in {REMOTE_TIMEOUT:g}s", delay=60.0) from exc


def _tip(cwd: Path, ref: str) -> str | None:
    found = _git(cwd, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else None


def fetch(repo_path: str, branch: str) -> str:
    """Fetch ``branch`` from the remote and fast-forward the local branch to it when it can (making
    it when the clone lacks it); returns the remote's tip. A local branch ahead of the remote (or
    apart from it) is left as it is."""
    path = Path(repo_path)
    done = _remote(path, "fetch", "--quiet", REMOTE, f"+refs/heads/{branch}:refs/remotes/{REMOTE}/{branch}")
    if done.returncode != 0:
        raise TransientError(f"git fetch {REMOTE} {branch}: {done.stderr.strip()}", delay=60.0)
    remote = _tip(path, f"refs/remotes/{REMOTE}/{branch}")
    if remote is None:
        raise TerminalError(f"{REMOTE} has no branch {branch}")
    local = _tip(path, f"refs/heads/{branch}")
    if local is None:  # the rig's branch changed to one the clone was not made on
        made = _git(path, "update-ref", f"refs/heads/{branch}", remote, "")
        if made.returncode != 0:
            raise TerminalError(f"could not make {branch} at {REMOTE}/{branch}: {made.stderr.strip()}")
    elif local != remote and _is_ancestor(path, local, remote):
        try:
            with _repo(repo_path) as repo:
                _advance(repo, branch, local, remote)
        except TerminalError as exc:  # the checkout's own changes are in the way: not a worker's fault
            raise TransientError(f"could not fast-forward {branch} to {REMOTE}/{branch}: {exc}",
                                 delay=60.0) from exc
    return remote


def _is_ancestor(cwd: Path, ancestor: str, descendant: str) -> bool:
    return _git(cwd, "merge-base", "--is-ancestor", ancestor, descendant).returncode == 0


def contains(repo_path: str, branch: str, commit: str) -> bool:
    """Whether ``branch``'s history has ``commit``."""
    return _is_ancestor(Path(repo_path), commit, f"refs/heads/{branch}")


def push(repo_path: str, commit: str, branch: str) -> None:
    """Push ``commit`` to the remote's ``branch``; never forced, so the remote takes it only as a
    fast-forward. RemoteMoved when it was refused for that reason."""
    done = _remote(Path(repo_path), "push", "--porcelain", REMOTE, f"{commit}:refs/heads/{branch}")
    if done.returncode == 0:
        return
    said = (done.stdout + done.stderr).strip()
    if "[rejected]" in said or "non-fast-forward" in said or "fetch first" in said:
        raise RemoteMoved(f"{REMOTE}/{branch}", said.splitlines()[-1] if said else "rejected")
    raise TransientError(f"git push {REMOTE} {branch}: {said}", delay=60.0)
