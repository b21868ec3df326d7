"""Hostile input never executes anything; names that break the schema stop gt before it acts.

Everything here runs the real pieces: ``gt apply`` through the CLI, a private tmux
server (the demo_town fixture), real git worktrees and the embedded Beads store.
Payloads try every way a string could reach a shell or tmux's own parsers:
``$(...)``, backticks, quotes, ``;`` (a trailing one ends a command for tmux's
argument parser), newlines, control characters and tmux formats (``#(...)``
runs a shell command wherever tmux expands a format, ``#{...}`` is substituted).
Each would-be command touches a marker file; a test fails when any marker exists.

Sections: 1. hostile issue content and manifest free text, 2. nudges, 3. names that break
the schema (manifests, and worker names read back from the store), then literal paths.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import git
import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.clients.beads.embedded import JsonlStore
from reconciler.clients.tmux import Tmux
from reconciler.loop.town import Town
from reconciler.model.observed import DONE_LABEL
from tests.conftest import wait_for

from .conftest import save

pytestmark = pytest.mark.tmux

MARK = "gt-hostile-marker"
runner = CliRunner()


# -- helpers -------------------------------------------------------------------


def payloads(marker_dir: Path) -> list[str]:
    """Strings that run ``touch <marker>`` if anything hands them to a shell or a tmux format."""

    def m(name: str) -> str:
        return str(marker_dir / f"{MARK}-{name}")

    return [
        f"$(touch {m('dollar')})",
        f"`touch {m('backtick')}`",
        f'"; touch {m("dquote")}; "',
        f"'; touch {m('squote')} #",
        f"x\ntouch {m('newline')}\n",
        f"x; touch {m('semicolon')};",
        f"#(touch {m('tmux-job')})",
        f"$(touch {MARK}-relative)",  # relative: would land in whatever cwd ran it
        "x;",  # a trailing ';' ends a tmux command unless escaped
        ";",
        "x\\;",
        "#{pid}",
    ]


def found_markers(tmp_path: Path) -> list[Path]:
    """Every marker file anywhere a payload could have put one."""
    home = Path(os.environ["HOME"])
    found = [p for root in (tmp_path, home) for p in root.rglob(f"{MARK}*")]
    for directory in (Path("/"), Path("/tmp"), Path.cwd()):
        found += [p for p in directory.glob(f"{MARK}*")]
    return sorted(set(found))


def assert_no_markers(tmp_path: Path, settle: float = 0.3) -> None:
    """tmux runs format jobs asynchronously: give anything started a moment, then look."""
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline and not found_markers(tmp_path):
        time.sleep(0.05)
    assert found_markers(tmp_path) == []


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} no longer holds {old!r}: update this test"
    save(path, text.replace(old, new, 1))


def yaml_text(value: object) -> str:
    """JSON is YAML; escape what YAML refuses to read raw (DEL, C1 controls)."""
    text = json.dumps(value, indent=2)
    return re.sub(r"[\x7f-\x9f]", lambda mo: f"\\u{ord(mo.group()):04x}", text) + "\n"


def write_manifest(path: Path, kind: str, name: str, spec: dict[str, object]) -> None:
    save(path, yaml_text({"apiVersion": "gt/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}))


def rig_store(town: Path) -> JsonlStore:
    return JsonlStore(town / "rigs" / "demo" / ".beads" / "issues.jsonl", "dm")


def set_convoy(town: Path, issues: list[str]) -> None:
    write_manifest(town / "manifests" / "convoys" / "demo.yaml", "Convoy", "demo",
                   {"title": "Hostile convoy", "rig": "demo", "issues": issues, "parallelism": 0})


def set_rig(town: Path, *, env: dict[str, str] | None = None, max_workers: int = 8,
            witness: dict[str, object] | None = None) -> None:
    write_manifest(town / "manifests" / "rigs" / "demo.yaml", "Rig", "demo", {
        "repo": "rigs/demo", "branch": "main", "beads": {"prefix": "dm"},
        "workers": {"max": max_workers, "env": env or {}},
        "witness": witness or {"idleAfter": "20s", "maxNudges": 3},
    })


def set_routing(town: Path, *, command: list[str], args: list[str], env: dict[str, str],
                nudge: str | None = None) -> None:
    agent: dict[str, object] = {"command": command, "env": env}
    if nudge is not None:
        agent["nudge"] = nudge
    write_manifest(town / "manifests" / "routing.yaml", "Routing", "default", {
        "default": "evil", "agents": {"demo": agent},
        "models": {"evil": {"agent": "demo", "args": args}},
        "rules": [{"when": {"label": "model:haiku"}, "model": "evil"}],
    })


def gt(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def tmux_of(town: Path) -> Tmux:
    return Tmux(Town.load(town).desired.socket)


def sessions(tmux: Tmux) -> dict[str, dict[str, str]]:
    """Session name -> its stamps and pane state, for every session of the town's server."""
    fields = ("#{session_name}", "#{pane_dead}", "#{@gt_issue}", "#{@gt_worker}", "#{@gt_rig}")
    return {row[0]: dict(zip(("dead", "issue", "worker", "rig"), row[1:], strict=True))
            for row in tmux.list_panes(fields)}


def session_of(tmux: Tmux, issue: str) -> str:
    return next(name for name, s in sessions(tmux).items() if s["issue"] == issue)


def capture(tmux: Tmux, session: str) -> str:
    """The pane's text with wrapped lines joined (long payloads wrap at 200 columns)."""
    result = tmux.run(["capture-pane", "-p", "-J", "-t", f"={session}:"])
    assert result.returncode == 0, result.error()
    return "\n".join(result.stdout)


# -- 1. hostile issue content and manifest free text ---------------------------


def test_hostile_issue_content_and_manifest_text_run_nothing(demo_town: Path, tmp_path: Path) -> None:
    """Titles, descriptions and labels in the store, model args, env values and the nudge in the
    manifests, all hostile: the demo agent works the issues and the refinery merges them; nothing
    runs, and titles and args arrive literally (in the pane, the commit and the file)."""
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    evil = payloads(marker_dir)
    store = rig_store(demo_town)
    titles = {f"dm-evil{n}": " | ".join(evil[n::4]) for n in range(4)}
    for issue_id, title in titles.items():
        store.create(title, issue_id=issue_id, description="\n".join(evil), labels=evil)
    model_arg = f"haiku; touch {marker_dir / MARK}-model"
    set_convoy(demo_town, list(titles))
    set_rig(demo_town, env={f"GT_EVIL_RIG_{i}": p for i, p in enumerate(evil)})
    set_routing(demo_town, command=["gt-demo-agent"],
                args=["--model", model_arg, *evil, "end;"],
                env={"GT_DEMO_DELAY": "0.1", **{f"GT_EVIL_AGENT_{i}": p for i, p in enumerate(evil)}},
                nudge=" ".join(evil))
    tmux = tmux_of(demo_town)

    code, out = gt("apply", "--yes")
    assert code == 0, out
    assert out.count("spawn") >= 4, out
    wait_for(lambda: all(DONE_LABEL in store.get(i).labels for i in titles), timeout=20)
    assert_no_markers(tmp_path)
    for issue_id, title in titles.items():
        pane = capture(tmux, session_of(tmux, issue_id))
        assert f"{issue_id}: {title!r} (model {model_arg})" in pane, pane

    code, out = gt("apply", "--yes")  # the refinery lands the branches: titles go into commits
    assert code == 0, out
    assert [store.get(i).status for i in titles] == ["closed"] * 4
    rig = demo_town / "rigs" / "demo"
    with git.Repo(rig) as repo:
        messages = [c.message for c in repo.iter_commits("main")]
    for issue_id, title in titles.items():
        assert any(m.startswith(f"{issue_id}: {title}\n") for m in messages), (issue_id, messages)
        written = (rig / "work" / f"{issue_id}.md").read_text(encoding="utf-8")
        assert written == f"# {title}\n\nDone by the demo agent with model {model_arg}.\n"
    assert_no_markers(tmp_path)


RECORDER = """\
import json, os, sys, time
out = os.path.join(sys.argv[1], os.environ["GT_ISSUE"] + ".json")
data = {"argv": sys.argv[2:], "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items() if k.startswith("GT_")}}
with open(out + ".tmp", "w", encoding="utf-8") as handle:
    json.dump(data, handle)
os.replace(out + ".tmp", out)
time.sleep(600)
"""


def wait_recording(path: Path) -> dict[str, Any]:
    """What the recorder agent wrote, once it has (it writes atomically)."""
    found: dict[str, Any] = wait_for(
        lambda: path.exists() and json.loads(path.read_text(encoding="utf-8")))
    return found


def test_command_args_and_env_arrive_literally(demo_town: Path, tmp_path: Path) -> None:
    """An agent that records its argv and environment: every hostile byte arrives as written,
    args ending in ';' and holding newlines included, and the town is then in sync."""
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    evil = payloads(marker_dir)
    out_dir = tmp_path / "recorded"
    out_dir.mkdir()
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER, encoding="utf-8")
    store = rig_store(demo_town)
    for n, title in enumerate(evil[:2], 1):
        store.create(title, issue_id=f"dm-evil{n}", labels=evil[n:n + 3])
    command_extra = [*evil, "-d", "--", "{", "}", "%1", "é€", " spaced  out "]
    model_args = ["--model", f"haiku; touch {marker_dir / MARK}-model", "", "\t", "end;", *evil]
    agent_env = {f"GT_EVIL_AGENT_{i}": p for i, p in enumerate([*evil, "", "a=b;"])}
    rig_env = {f"GT_EVIL_RIG_{i}": p for i, p in enumerate([*evil, "\\", "end;"])}
    set_convoy(demo_town, ["dm-evil1", "dm-evil2"])
    set_rig(demo_town, env=rig_env)
    set_routing(demo_town, command=[sys.executable, str(script), str(out_dir), *command_extra],
                args=model_args, env=agent_env)

    code, out = gt("apply", "--yes")
    assert code == 0, out
    records = {issue_id: wait_recording(out_dir / f"{issue_id}.json")
               for issue_id in ("dm-evil1", "dm-evil2")}
    assert_no_markers(tmp_path)
    for issue_id, recorded in records.items():
        worker = recorded["env"]["GT_WORKER"]
        assert recorded["argv"][:-1] == command_extra + model_args
        assert recorded["argv"][-1].startswith(f"You are demo/workers/{worker}, a gt worker.")  # its start prompt
        got_env = {k: v for k, v in recorded["env"].items() if k.startswith("GT_EVIL_")}
        assert got_env == agent_env | rig_env
        assert recorded["env"]["GT_ISSUE"] == issue_id
        worker = recorded["env"]["GT_WORKER"]
        assert Path(recorded["cwd"]) == (demo_town / ".gt" / "worktrees" / "demo" / worker).resolve()
    live = sessions(tmux_of(demo_town))
    assert sorted(s["issue"] for s in live.values()) == ["dm-evil1", "dm-evil2"]
    assert all(s["dead"] == "0" for s in live.values()), live
    # Stamps and fingerprints round-tripped through tmux: nothing left to do.
    code, out = gt("diff")
    assert code == 0, out


def test_town_path_with_tmux_format_and_shell_syntax_runs_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The town's own path reaches tmux as the session's start directory (-c, a tmux format):
    a town kept in a directory named like a payload still starts its worker in the right place."""
    import shutil

    from reconciler.ops.scaffold import init_town

    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    root = tmp_path / f"t #(touch {MARK}-job) $(touch {MARK}-sh) `touch {MARK}-tick` #{{pid}} x;"
    init_town(root, demo=True)
    monkeypatch.chdir(root)
    tmux = tmux_of(root)
    try:
        out_dir = tmp_path / "recorded"
        out_dir.mkdir()
        script = tmp_path / "recorder.py"
        script.write_text(RECORDER, encoding="utf-8")
        set_convoy(root, ["dm-greet"])
        set_routing(root, command=[sys.executable, str(script), str(out_dir)], args=[], env={})
        code, out = gt("apply", "--yes")
        assert code == 0, out
        recorded = wait_recording(out_dir / "dm-greet.json")
        assert_no_markers(tmp_path)
        worker = recorded["env"]["GT_WORKER"]
        assert recorded["cwd"] == str(root / ".gt" / "worktrees" / "demo" / worker)
        assert recorded["env"]["GT_TOWN"] == str(root)
        code, out = gt("diff")
        assert code == 0, out
    finally:
        tmux.kill_server()


# -- 2. nudges -------------------------------------------------------------------


def test_nudge_text_is_typed_literally_and_runs_nothing(demo_town: Path, tmp_path: Path) -> None:
    """An idle worker is nudged with hostile text: it is typed literally (control characters
    dropped, so no ^C, ^D or early Enter reaches the agent) and the agent reads exactly it."""
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    m = str(marker_dir / MARK)
    nudge = (f"go; touch {m}-semi $(touch {m}-dollar) `touch {m}-tick` \"dq\" 'sq' "
             f"#(touch {m}-job) #{{pid}} ##{{pid}}\ntouch {m}-nl\r\x03\x04\x1a\x1b[A\x7f\t"
             "\u0085tail;")
    expected = "".join(ch for ch in nudge if ch.isprintable())
    rig_store(demo_town).create("Hostile nudge", issue_id="dm-evil1")
    set_convoy(demo_town, ["dm-evil1"])
    set_rig(demo_town, witness={"idleAfter": "0s", "maxNudges": 3})
    set_routing(demo_town, command=["gt-demo-agent"], args=["--model", "haiku"],
                env={"GT_DEMO_MODE": "idle", "GT_DEMO_DELAY": "0.1"}, nudge=nudge)
    tmux = tmux_of(demo_town)

    code, out = gt("apply", "--yes")
    assert code == 0, out
    session = wait_for(lambda: next(iter(sessions(tmux)), None))
    wait_for(lambda: "idle mode: not working on it" in capture(tmux, session))

    code, out = gt("apply", "--yes")
    assert code == 0, out
    assert "nudge 1 delivered" in out, out
    wait_for(lambda: f"nudged: {expected!r}" in capture(tmux, session), timeout=5)
    pane = capture(tmux, session)
    assert pane.count("nudged:") == 1, pane  # one line: the newline and \r never pressed Enter
    assert expected in pane  # the terminal echoed what was typed, verbatim
    assert sessions(tmux)[session]["dead"] == "0"  # ^C / ^D never reached the agent
    assert_no_markers(tmp_path)


# -- 3. names that break the schema ----------------------------------------------


def _rig_name(m: str) -> list[tuple[str, str, str]]:
    return [("manifests/rigs/demo.yaml", "  name: demo\n", f"  name: \"demo$(touch {m})\"\n"),
            ("manifests/convoys/demo.yaml", "  rig: demo\n", f"  rig: \"demo$(touch {m})\"\n")]


RIG, CONVOY, ROUTING = "manifests/rigs/demo.yaml", "manifests/convoys/demo.yaml", "manifests/routing.yaml"
BAD_NAMES = {
    "worker-name-semicolon": lambda m: [
        (RIG, "workers: {max: 3}", f'workers: {{max: 3, names: [nux, "x;touch {m}"]}}')],
    "worker-name-tmux-job": lambda m: [(RIG, "workers: {max: 3}", f'workers: {{max: 3, names: ["#(touch {m})"]}}')],
    "worker-name-inner-newline": lambda m: [
        (RIG, "workers: {max: 3}", f'workers: {{max: 3, names: ["x\\ntouch {m}"]}}')],
    "rig-name-dollar": _rig_name,
    "issue-id-backtick": lambda m: [(CONVOY, "issues: [dm-greet,", f'issues: ["dm-`touch {m}`", dm-greet,')],
    "issue-id-dollar-semicolon": lambda m: [(CONVOY, "issues: [dm-greet,", f'issues: [dm-greet, "dm-x;$(touch {m})",')],
    "model-name-quote": lambda m: [(ROUTING, "  models:\n", f"  models:\n    'hai\"ku; touch {m}': {{agent: demo}}\n")],
    "agent-name-semicolon": lambda m: [
        (ROUTING, "  agents:\n", f"  agents:\n    \"ev;touch {m}\": {{command: [gt-demo-agent]}}\n")],
    "env-name-dollar": lambda m: [(RIG, "workers: {max: 3}", f'workers: {{max: 3, env: {{"A$(touch {m})": x}}}}')],
    "routing-ref-backtick": lambda m: [(RIG, "  state: active", f'  routing: "`touch {m}`"\n  state: active')],
    "prefix-semicolon": lambda m: [(RIG, "beads: {prefix: dm}", f'beads: {{prefix: "dm;touch {m}"}}')],
}
# Regression: the schema's '^...$' patterns were checked with Python re.search, where '$' also
# matches before a final newline (ECMA-262 '$', which JSON Schema means, does not): a name with
# a trailing '\n' passed validation and gt apply went on to start tmux, git and the agents.
TRAILING_NEWLINE = {
    "worker-name-trailing-newline": lambda m: [(RIG, "workers: {max: 3}", 'workers: {max: 3, names: ["nux\\n"]}')],
    "rig-name-trailing-newline": lambda m: [
        (RIG, "  name: demo\n", '  name: "demo\\n"\n'), (CONVOY, "  rig: demo\n", '  rig: "demo\\n"\n')],
    "issue-id-trailing-newline": lambda m: [(CONVOY, "issues: [dm-greet,", 'issues: ["dm-greet\\n",')],
}


def socket_identity(path: Path) -> tuple[int, int] | None:
    """A server that starts makes a new socket file (and leaves it behind when killed)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


@pytest.mark.parametrize("edits", [
    *(pytest.param(f, id=k) for k, f in BAD_NAMES.items()),
    *(pytest.param(f, id=k) for k, f in TRAILING_NEWLINE.items()),
])
def test_names_breaking_the_schema_stop_apply_before_anything_runs(demo_town: Path, tmp_path: Path, edits) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "markers" / MARK
    marker.parent.mkdir()
    socket = Town.load(demo_town).desired.socket
    socket_file = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / socket
    socket_before = socket_identity(socket_file)
    beads = demo_town / "rigs" / "demo" / ".beads" / "issues.jsonl"
    before = beads.read_bytes()
    changes = edits(str(marker))
    for rel, old, new in changes:
        edit(demo_town / rel, old, new)

    result = runner.invoke(app, ["apply", "--yes"])

    assert result.exit_code == 2, result.output
    first_file = changes[0][0]
    assert re.search(rf"^{re.escape(first_file)}:\d+:\d+: ", result.stderr, re.MULTILINE), result.stderr
    assert "Applied" not in result.output
    assert Tmux(socket).run(["list-sessions"]).no_server  # no tmux server runs ...
    assert socket_identity(socket_file) == socket_before  # ... nor was one started and stopped
    assert not (demo_town / ".gt").exists()  # no worktree
    with git.Repo(demo_town / "rigs" / "demo") as repo:
        assert [h.name for h in repo.heads] == ["main"]  # no worker branch
    assert beads.read_bytes() == before  # nothing hooked
    assert_no_markers(tmp_path)


def test_validation_error_points_at_the_offending_node(demo_town: Path) -> None:
    """The error names the file, line and column of the bad name itself."""
    path = demo_town / RIG
    edit(path, "workers: {max: 3}", 'workers: {max: 3, names: [nux, "x;touch MARKER"]}')
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "x;touch" in text)
    col = path.read_text().splitlines()[line - 1].index('"x;touch') + 1
    result = runner.invoke(app, ["apply", "--yes"])
    assert result.exit_code == 2
    assert f"{RIG}:{line}:{col}: $.spec.workers.names[1]: 'x;touch MARKER'" in result.stderr, result.stderr


# -- worker names that come from the store, not the manifests ---------------------

# Regression: a worker name read back from a hooked issue's assignee (demo/workers/<name>) was
# not checked against the name schema, and it became the tmux session name, which tmux expands
# as a format in new-session -s: '#(cmd)' ran cmd through a shell ('#' was doubled for -c only).


@pytest.mark.parametrize("worker", [
    f"$(touch${{IFS}}{MARK})",
    f"`touch${{IFS}}{MARK}`",
    f"x;touch${{IFS}}{MARK};",
    ";",
    pytest.param(f"#(touch${{IFS}}{MARK})", id="tmux-job"),
])
def test_hostile_worker_name_from_the_store_runs_nothing(demo_town: Path, tmp_path: Path, worker: str) -> None:
    """Someone else's write to the store hooks an issue to a hostile worker name; gt takes the
    worker name from the assignee. Whatever it does with it, nothing may run."""
    store = rig_store(demo_town)
    store.create("Hooked by a hostile hand", issue_id="dm-evil1")
    store.hook("dm-evil1", f"demo/workers/{worker}")
    set_convoy(demo_town, ["dm-evil1"])
    code, out = gt("apply", "--yes")
    assert code in (0, 1, 2), out
    assert_no_markers(tmp_path, settle=1.5)


def test_worker_name_from_the_store_that_breaks_the_schema_is_not_started(demo_town: Path) -> None:
    """A name the schema would reject gets no worktree, branch or session, wherever it comes from."""
    store = rig_store(demo_town)
    store.create("Hooked by a hostile hand", issue_id="dm-evil1")
    store.hook("dm-evil1", "demo/workers/x;touch")
    set_convoy(demo_town, ["dm-evil1"])
    gt("apply", "--yes")
    assert not (demo_town / ".gt" / "worktrees" / "demo" / "x;touch").exists()
    assert all(s["worker"] != "x;touch" for s in sessions(tmux_of(demo_town)).values())


# -- paths are taken literally -----------------------------------------------------

def test_rig_repo_path_with_dollar_name_is_taken_literally(demo_town: Path, tmp_path: Path) -> None:
    """Regression: git.Repo(str) expands $NAME, ${NAME}, %NAME% and a leading ~ (GitPython's
    expand_vars defaults to True, and warns), so gt observed the literal rig path but acted on
    the expanded one ('... is not a git repository'). Paths must be taken literally."""
    rigs = demo_town / "rigs"
    (rigs / "demo").rename(rigs / "demo$HOME")
    edit(demo_town / RIG, "repo: rigs/demo ", 'repo: "rigs/demo$HOME" ')
    set_convoy(demo_town, ["dm-greet"])
    code, out = gt("apply", "--yes")
    assert code == 0, out
    live = sessions(tmux_of(demo_town))
    assert [s["issue"] for s in live.values()] == ["dm-greet"], live
    assert_no_markers(tmp_path)


def test_a_worker_too_large_to_start_is_refused_before_its_hook_and_worktree(demo_town: Path) -> None:
    """Each argument within the schema's 4 KiB, together past what tmux takes for one session: the
    haiku workers are refused before anything is made for them; the other starts."""
    routing = demo_town / "manifests/routing.yaml"
    big = ", ".join(["x" * 4000] * 4)
    save(routing, routing.read_text().replace("args: [--model, haiku]", f"args: [--model, haiku, {big}]"))
    code, out = gt("apply", "--yes")
    assert code == 1, out
    assert "spawn: failed (not started: its command, environment and start prompt come to" in out
    store = JsonlStore(demo_town / "rigs/demo/.beads/issues.jsonl", "dm")
    for haiku in ("dm-greet", "dm-readme"):  # routed to haiku (a label; "typo" in the title)
        assert store.get(haiku).status == "open" and store.get(haiku).assignee is None  # never hooked
    made = sorted(p.name for p in (demo_town / ".gt/worktrees/demo").iterdir())
    assert len(made) == 1 and {s["issue"] for s in sessions(tmux_of(demo_town)).values()} == {"dm-parser"}


# -- symbolic links committed into a town never carry a write outside it ---------

LINKS = [  # (the link, inside the town; what the link points at: a file or a directory outside)
    (".gt/town.lock", "file"),
    (".gt/controller.log", "file"),
    (".gt/worktrees/demo", "dir"),
    ("rigs/demo/.beads/issues.jsonl.lock", "file"),
    ("rigs/demo/.beads/issues.jsonl", "copy"),
]


@pytest.mark.parametrize(("link", "kind"), LINKS, ids=[link for link, _ in LINKS])
def test_a_symlink_in_the_town_is_refused_not_followed(demo_town: Path, tmp_path: Path, link: str,
                                                         kind: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "target"
    at = demo_town / link
    if kind == "dir":
        target.mkdir()
    elif kind == "copy":
        target.write_bytes(at.read_bytes())
        at.unlink()
    else:
        target.write_text("precious\n")
        at.unlink(missing_ok=True)
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(target)
    before = sorted(p.name for p in target.iterdir()) if kind == "dir" else target.read_bytes()

    code, out = gt("controller", "run") if link == ".gt/controller.log" else gt("apply", "--yes")
    assert code != 0 and f"{link} is a symbolic link (to {target})" in out, out
    assert at.is_symlink()  # kept as it was, not replaced by a regular file
    assert (sorted(p.name for p in target.iterdir()) if kind == "dir" else target.read_bytes()) == before
    assert sorted(p.name for p in outside.iterdir()) == ["target"]  # nothing made beside it either


def test_control_characters_from_the_store_are_shown_escaped_never_obeyed(demo_town: Path) -> None:
    """An id with a newline and escape sequences, hooked to a worker: diff and status show it escaped,
    so it can neither forge a plan line nor drive the terminal."""
    evil = "dm-evil\n+ spawn    demo/fake            dm-fake\x1b[2J\u202e"
    record = {"_type": "issue", "id": evil, "title": "t\x1b[31m", "status": "hooked", "priority": 1,
              "issue_type": "task", "assignee": "demo/workers/nux"}
    with (demo_town / "rigs/demo/.beads/issues.jsonl").open("a") as out:
        out.write(json.dumps(record) + "\n")
    for command in (["diff"], ["status"]):
        code, out = gt("--color", "always", *command)
        assert code in (0, 1), out
        assert "dm-evil\\n+ spawn" in out and "\\x1b[2J\\u202e" in out
        assert "\x1b[2J" not in out and "\u202e" not in out
        assert not any(line.startswith("+ spawn    demo/fake") for line in out.splitlines())
