"""``gt init``: lay out a new town (and, with --demo, a demo rig to run it on).

Never overwrites: a directory that already holds manifests/ is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reconciler.clients.git import commit_paths
from reconciler.errors import UsageError

TOWN = """\
# yaml-language-server: $schema={schemas}/town.schema.json
# Town-wide settings. Every field is optional; the values shown are the defaults.
apiVersion: gt/v1
kind: Town
metadata:
  name: {name}
spec:
  tmux:
    socket: null          # null: a private server named after this town's path
  beads:
    backend: embedded     # embedded (no bd needed) | bd (drive the bd CLI)
    prefix: hq            # the town's own store, for mail
  controller:
    interval: 30s         # a pass at least this often
    maxSpawnsPerPass: 5
  overseer: overseer      # who receives HELP mail
  coordinator: null       # {{}} or e.g. {{model: opus}}: an agent in gt-coordinator (gt attach coordinator)
  views: true             # gt-witness (live gt status), gt-refinery (merge queues): prefix g w, prefix g r
"""

RIG = """\
# yaml-language-server: $schema={schemas}/rig.schema.json
# A rig is a project: a Git repository, a pool of workers, a Beads store of issues.
apiVersion: gt/v1
kind: Rig
metadata:
  name: {rig}
spec:
  repo: {repo}            # relative to the town root, or a git URL
  branch: main            # workers branch from here; finished work merges back here
  beads: {{prefix: {prefix}}}     # this rig's issues are {prefix}-...
  state: active           # active | parked (start nothing new) | docked (stop all, keep hooks)
  workers: {{max: {max_workers}}}
  witness: {{idleAfter: {idle}, maxNudges: 3}}
"""

# A new convoy, as gt init and gt convoy create write it.
CONVOY_HEAD = """\
# yaml-language-server: $schema={schemas}/convoy.schema.json
# A convoy is a batch of one rig's issues, worked in parallel, started in this order.
apiVersion: gt/v1
kind: Convoy
metadata:
  name: {convoy}
spec:
  title: {title}
  rig: {rig}
  issues: [{issues}]
"""
CONVOY = CONVOY_HEAD + """\
  parallelism: {parallelism}
"""

ROUTING = """\
# yaml-language-server: $schema={schemas}/routing.schema.json
# Which agent and model work an issue. Rules are tried in order; the first match wins.
apiVersion: gt/v1
kind: Routing
metadata:
  name: default
spec:
  default: sonnet
  agents:
{agents}
  # cost: dollars a task (plans, budgets); price: dollars per million tokens, as Anthropic lists them
  # for Claude Haiku, Sonnet and Opus 4.5 (check claude.com/pricing for the models you run)
  models:
    haiku:  {{agent: {agent}, args: [--model, haiku],  cost: 0.001, price: {{inputPerMTok: 1, outputPerMTok: 5}}}}
    sonnet: {{agent: {agent}, args: [--model, sonnet], cost: 0.01,  price: {{inputPerMTok: 3, outputPerMTok: 15}}}}
    opus:   {{agent: {agent}, args: [--model, opus],   cost: 0.10,  price: {{inputPerMTok: 5, outputPerMTok: 25}}}}
  # gt route ISSUE --why shows which rule picks an issue's model, and why the earlier ones do not.
  rules:
    # An explicit model: label first; a label may be a glob ("area:*" matches any area: label)
    - {{when: {{label: "model:haiku"}}, model: haiku}}
    - {{when: {{label: "model:sonnet"}}, model: sonnet}}
    - {{when: {{label: "model:opus"}}, model: opus}}
    # then a complexity: label
    - {{when: {{label: "complexity:trivial"}}, model: haiku}}
    - {{when: {{label: "complexity:simple"}}, model: sonnet}}
    - {{when: {{label: "complexity:standard"}}, model: sonnet}}
    - {{when: {{label: "complexity:complex"}}, model: opus}}
    # then words in the title (RE2 regular expressions); an issue's type and priority work too:
    # {{when: {{type: bug, priority: 0}}, model: opus}}
    - {{when: {{title: "(?i)\\\\b(rename|typo)\\\\b"}}, model: haiku}}
    - {{when: {{title: "(?i)\\\\barchitect"}}, model: opus}}
"""

CLAUDE_AGENT = """\
    claude:
      preset: claude      # Claude Code: its process name, start prompt, trust dialog, IS_SANDBOX=1 as root"""

DEMO_AGENT = """\
    demo:
      command: [gt-demo-agent]   # shipped with gt; found on the workers' PATH like any agent
      ready: 'demo>\\Z'           # its input prompt, last on screen: nudges are typed only then"""


@dataclass(frozen=True)
class DemoIssue:
    id: str
    title: str
    description: str
    labels: tuple[str, ...] = ()
    priority: int = 2
    blocked_by: tuple[str, ...] = ()


# The demo agent makes the edits a description asks for ("In `F`, replace `A` with `B`.", "Add the
# line `L` to `F`."). dm-greet and dm-parser start together and both replace the README's
# "- none yet": whichever lands second conflicts, goes back to its worker as a REWORK_REQUEST, and
# lands once the worker has merged main, keeping both lines. dm-cache waits for the parser.
FEATURES_PLACEHOLDER = "- none yet"
DEMO_ISSUES = (
    DemoIssue("dm-greet", "Add a greeting module", "Create greet.py with a greet(name) function.\n\n"
              "Add the line `def greet(name: str) -> str: return f\"hello, {name}\"` to `greet.py`.\n"
              f"In `README.md`, replace `{FEATURES_PLACEHOLDER}` with `- greet(name): says hello`.",
              ("model:haiku",), 1),
    DemoIssue("dm-parser", "Write the config parser", "Parse key=value lines into a dict.\n\n"
              "Add the line `def parse(text: str) -> dict[str, str]: return dict(line.split(\"=\", 1) "
              "for line in text.splitlines() if \"=\" in line)` to `parser.py`.\n"
              f"In `README.md`, replace `{FEATURES_PLACEHOLDER}` with `- parse(text): reads key=value lines`.",
              ("complexity:complex",), 1),
    DemoIssue("dm-readme", "Fix typo in README", "The README says 'teh' instead of 'the'.\n\n"
              "In `README.md`, replace `teh` with `the`.", (), 2),
    DemoIssue("dm-cache", "Cache parsed configs", "Memoise the parser's results.\n\n"
              "Add the line `import functools` to `parser.py`.\n"
              "Add the line `parse = functools.cache(parse)` to `parser.py`.",
              (), 2, ("dm-parser",)),
)
DEMO_RIG_FILES = {
    "README.md": f"# demo\n\nA tiny project worked by teh gt demo agents.\n\n## Features\n\n{FEATURES_PLACEHOLDER}\n",
    "app.py": 'def main() -> None:\n    print("hello from the demo rig")\n',
}


@dataclass(frozen=True)
class InitResult:
    root: Path
    created: tuple[str, ...]
    demo_rig: Path | None


def init_town(root: Path, *, demo: bool = False) -> InitResult:
    """Create a town at ``root``: git repo, manifests/, .gitignore; refuses an existing town."""
    root = root.resolve()
    if (root / "manifests").exists():
        raise UsageError(f"{root} already holds manifests/: refusing to overwrite a town")
    root.mkdir(parents=True, exist_ok=True)
    files = _demo_manifests(root) if demo else _plain_manifests(root)
    created = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        created.append(rel)
    # .gt/ is runtime state; .beads/ at the root is the town's mail, which gt writes as it runs.
    ignores = [".gt/", "/.beads/"] + (["/rigs/"] if demo else [])
    _ensure_lines(root / ".gitignore", ignores)
    created.append(".gitignore")
    demo_rig = _make_demo_rig(root / "rigs" / "demo") if demo else None
    commit_paths(root, ["manifests", "schemas", ".gitignore"], "gt init: a new town", own_repository=True)
    return InitResult(root, tuple(created), demo_rig)


def schemas_for(rel: str) -> str:
    """The town's schemas/ directory as seen from manifest ``rel`` (editors resolve relatively)."""
    return "/".join([".."] * rel.count("/")) + "/schemas"


def _manifests(root: Path, rig: str, repo: str, prefix: str, max_workers: int, idle: str,
               convoy: str, title: str, issues: str, agent: str, agents: str) -> dict[str, str]:
    files: dict[str, tuple[str, dict[str, object]]] = {
        "manifests/town.yaml": (TOWN, {"name": _town_name(root)}),
        f"manifests/rigs/{rig}.yaml": (RIG, {
            "rig": rig, "repo": repo, "prefix": prefix, "max_workers": max_workers, "idle": idle}),
        f"manifests/convoys/{convoy}.yaml": (CONVOY, {
            "convoy": convoy, "title": title, "rig": rig, "issues": issues, "parallelism": 3}),
        "manifests/routing.yaml": (ROUTING, {
            "agent": agent, "agents": agents}),
    }
    out = {rel: template.format(schemas=schemas_for(rel), **values)
           for rel, (template, values) in files.items()}
    out.update(_schema_files())
    return out


def _schema_files() -> dict[str, str]:
    """Self-contained copies of the schemas, so the $schema lines work offline in any editor."""
    import json

    from reconciler.manifests.schemas import KIND_FILES, bundled_schema

    return {f"schemas/{filename}": json.dumps(bundled_schema(kind), indent=2) + "\n"
            for kind, filename in KIND_FILES.items()}


def _plain_manifests(root: Path) -> dict[str, str]:
    return _manifests(root, rig="app", repo="../app", prefix="app", max_workers=4, idle="5m",
                      convoy="first", title="First batch", issues="app-first",
                      agent="claude", agents=CLAUDE_AGENT)


def _demo_manifests(root: Path) -> dict[str, str]:
    return _manifests(root, rig="demo", repo="rigs/demo", prefix="dm", max_workers=3, idle="20s",
                      convoy="demo", title="Demo convoy",
                      issues=", ".join(i.id for i in DEMO_ISSUES), agent="demo",
                      agents=DEMO_AGENT)


def _town_name(root: Path) -> str:
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", root.name.lower()).strip("-")[:40].strip("-")
    return name if name and name[0].isalpha() else f"town-{name}".strip("-")


def _ensure_lines(path: Path, lines: list[str]) -> None:
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [line for line in lines if line not in existing]
    if missing:
        path.write_text("\n".join(existing + missing) + "\n", encoding="utf-8")


def _make_demo_rig(path: Path) -> Path:
    from reconciler.clients.stores import open_store

    path.mkdir(parents=True, exist_ok=True)
    for rel, text in DEMO_RIG_FILES.items():
        (path / rel).write_text(text, encoding="utf-8")
    commit_paths(path, list(DEMO_RIG_FILES), "demo rig: initial files", branch="main", own_repository=True)
    store = open_store("embedded", path, "dm")
    for issue in DEMO_ISSUES:
        store.create(
            issue.title,
            issue_id=issue.id,
            description=issue.description,
            labels=issue.labels,
            priority=issue.priority,
            blocked_by=issue.blocked_by,
        )
    commit_paths(path, [".beads/issues.jsonl"], "demo rig: its Beads issues")  # tracked, as bd keeps them
    return path
