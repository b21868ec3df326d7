"""Built-in agent presets and the built-in Routing: pure data.

What Claude Code and Codex really do in a pane (checked with Claude Code 2.1 from npm):
the process is named after the program; as root Claude Code refuses
--dangerously-skip-permissions unless IS_SANDBOX=1; a new folder opens on a trust
dialog, and --dangerously-skip-permissions on a warning whose accepting option is
the second one; its input line starts with '❯' at the left edge, and while it works
its status line says 'esc to interrupt'. A positional argument is its first prompt.
"""

from __future__ import annotations

from reconciler.model.desired import AgentSpec, Dialog, ModelSpec, PromptVia, RoutingRule, RoutingSpec

PRESET_NAMES = ("claude", "codex", "script")

PRESETS: dict[str, AgentSpec] = {
    "claude": AgentSpec(
        name="claude",
        command=("claude", "--dangerously-skip-permissions"),
        process_names=("claude",),
        env=(("IS_SANDBOX", "1"),),
        prompt_via=PromptVia.args,
        ready="(?m)^❯[\u00a0 ]",
        busy="esc to interrupt",
        dialogs=(
            Dialog("trust", "Quick safety check|trust this folder", ("Enter",)),
            Dialog("bypass-permissions", "Bypass Permissions mode", ("Down", "Enter")),
        ),
        preset="claude",
    ),
    "codex": AgentSpec(
        name="codex",
        command=("codex", "--dangerously-bypass-approvals-and-sandbox"),
        process_names=("codex",),
        prompt_via=PromptVia.args,
        ready="(?m)^›\\s",
        busy="(?i)esc to interrupt",
        dialogs=(Dialog("trust", "Do you trust the contents of this directory", ("Enter",)),),
        preset="codex",
    ),
    "script": AgentSpec(name="script", command=("true",), preset="script"),
}


def preset_for(program: str) -> str:
    """The preset a command means when none is named: by the program's own name."""
    base = program.rsplit("/", 1)[-1]
    return base if base in PRESETS and base != "script" else "script"


# Gas Town's smart slinging, as its users know it: an explicit model: label first, then a
# complexity: label, then words in the title; else the default. gt init writes the same rules.
BUILTIN_RULES = (
    RoutingRule(model="haiku", label="model:haiku"),
    RoutingRule(model="sonnet", label="model:sonnet"),
    RoutingRule(model="opus", label="model:opus"),
    RoutingRule(model="haiku", label="complexity:trivial"),
    RoutingRule(model="sonnet", label="complexity:simple"),
    RoutingRule(model="sonnet", label="complexity:standard"),
    RoutingRule(model="opus", label="complexity:complex"),
    RoutingRule(model="haiku", title=r"(?i)\b(rename|typo)\b"),
    RoutingRule(model="opus", title=r"(?i)\barchitect"),
)

BUILTIN_ROUTING = RoutingSpec(
    name="default",
    default="sonnet",
    agents=(PRESETS["claude"],),
    models=(
        ModelSpec("haiku", "claude", ("--model", "haiku"), 0.001, None),
        ModelSpec("sonnet", "claude", ("--model", "sonnet"), 0.01, None),
        ModelSpec("opus", "claude", ("--model", "opus"), 0.1, None),
    ),
    rules=BUILTIN_RULES,
)
