"""Turn schema-valid, defaulted manifest bodies into the typed model."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

from reconciler.manifests.schemas import apply_defaults
from reconciler.model.costs import TokenPrice
from reconciler.model.desired import (
    AgentSpec,
    ConvoySpec,
    CoordinatorSpec,
    CrashLoopPolicy,
    DesiredState,
    Dialog,
    Env,
    IssueOverride,
    ModelSpec,
    PromptVia,
    RefineryPolicy,
    RigSpec,
    RoutingRule,
    RoutingSpec,
    Source,
    SwarmSpec,
    TownSpec,
    WitnessPolicy,
)
from reconciler.model.presets import PRESETS, preset_for

if TYPE_CHECKING:
    from reconciler.manifests.loader import Manifest

_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """'1h30m' -> 5400.0 seconds. The schema has already checked the shape."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def _env(mapping: dict[str, str]) -> Env:
    return tuple(sorted(mapping.items()))


def defaulted(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A manifest body with every absent field set from the schema: the one source of defaults."""
    document = {"apiVersion": "gt/v1", "kind": kind, "metadata": {"name": "defaults"}, "spec": spec}
    body: dict[str, Any] = apply_defaults(kind, document)["spec"]
    return body


def town(m: Manifest | None, default_name: str) -> TownSpec:
    if m is None:
        return default_town(default_name)
    return town_of(m.name, m.spec, m.source())


def default_town(name: str) -> TownSpec:
    """The Town of a town that declares none: every value the schema's default."""
    return town_of(name, defaulted("Town", {}))


def town_of(name: str, spec: dict[str, Any], source: Source | None = None) -> TownSpec:
    """A Town from a defaulted body."""
    ctl, crash = spec["controller"], spec["controller"]["crashLoop"]
    return TownSpec(
        name=name,
        socket=spec["tmux"]["socket"],
        beads_backend=spec["beads"]["backend"],
        beads_prefix=spec["beads"]["prefix"],
        interval=parse_duration(ctl["interval"]),
        jitter=float(ctl["jitter"]),
        debounce=parse_duration(ctl["debounce"]),
        max_spawns_per_pass=ctl["maxSpawnsPerPass"],
        crash_loop=CrashLoopPolicy(
            initial_backoff=parse_duration(crash["initialBackoff"]),
            max_backoff=parse_duration(crash["maxBackoff"]),
            max_crashes=crash["maxCrashes"],
            window=parse_duration(crash["window"]),
        ),
        overseer=spec["overseer"],
        branch=ctl["branch"],
        coordinator=_coordinator(spec["coordinator"]),
        views=spec["views"],
        source=source,
    )


def _coordinator(spec: dict[str, Any] | None) -> CoordinatorSpec | None:
    if spec is None:
        return None
    return CoordinatorSpec(routing=spec["routing"], model=spec["model"], agent=spec["agent"])


def rig(m: Manifest) -> RigSpec:
    return rig_of(m.name, m.spec, m.source())


def rig_of(name: str, spec: dict[str, Any], source: Source | None = None) -> RigSpec:
    """A Rig from a defaulted body."""
    witness, refinery, workers = spec["witness"], spec["refinery"], spec["workers"]
    return RigSpec(
        name=name,
        repo=spec["repo"],
        branch=spec["branch"],
        prefix=spec["beads"]["prefix"] or name,
        beads_path=spec["beads"]["path"],
        state=spec["state"],
        routing=spec["routing"],
        workers_max=workers["max"],
        worker_names=tuple(workers["names"]),
        worker_env=_env(workers["env"]),
        witness=WitnessPolicy(
            idle_after=parse_duration(witness["idleAfter"]),
            max_nudges=witness["maxNudges"],
            nudge_every=parse_duration(witness["nudgeEvery"]),
            stuck_after=parse_duration(witness["stuckAfter"]),
        ),
        refinery=RefineryPolicy(
            strategy=refinery["strategy"],
            gates=tuple(_argv(g) for g in refinery["gates"]),
            max_reworks=refinery["maxReworks"],
            gate_timeout=parse_duration(refinery["gateTimeout"]),
            push=refinery["push"],
        ),
        budget=spec["budget"],
        source=source,
    )


def _argv(gate: str | list[str]) -> tuple[str, ...]:
    return tuple(shlex.split(gate)) if isinstance(gate, str) else tuple(gate)


def convoy(m: Manifest) -> ConvoySpec:
    return convoy_of(m.name, m.spec, m.source())


def convoy_of(name: str, spec: dict[str, Any], source: Source | None = None) -> ConvoySpec:
    """A Convoy from a defaulted body."""
    entries = [e for e in spec["issues"] if isinstance(e, dict)]
    return ConvoySpec(
        name=name,
        rig=spec["rig"],
        issues=tuple(issue_id(e) for e in spec["issues"]),
        title=spec["title"] or name,
        parallelism=spec["parallelism"],
        paused=spec["paused"],
        overrides=tuple(IssueOverride(name, e["id"], e["model"], e["agent"], e["message"]) for e in entries
                        if e["model"] is not None or e["agent"] is not None or e["message"] is not None),
        molecule=tuple(spec["molecule"]["steps"]) if spec["molecule"] is not None else (),
        steps=tuple((e["id"], tuple(e["steps"])) for e in entries if e["steps"] is not None),
        swarm=SwarmSpec(**spec["swarm"]) if spec["swarm"] is not None else None,
        budget=spec["budget"],
        source=source,
    )


def issue_id(entry: str | dict[str, Any]) -> str:
    """The id of a convoy's ``issues`` entry: an id, or a mapping holding it."""
    return entry["id"] if isinstance(entry, dict) else entry


def routing(m: Manifest) -> RoutingSpec:
    spec = m.spec
    agents = tuple(agent(name, a) for name, a in spec["agents"].items())
    models = tuple(
        ModelSpec(name=name, agent=mo["agent"], args=tuple(mo["args"]), cost=float(mo["cost"]),
                  price=_price(mo["price"]))
        for name, mo in spec["models"].items()
    )
    rules = tuple(_rule(r) for r in spec["rules"])
    return RoutingSpec(m.name, spec["default"], agents, models, rules, m.source())


def _price(p: dict[str, Any] | None) -> TokenPrice | None:
    if p is None:
        return None
    return TokenPrice.of(p["inputPerMTok"], p["outputPerMTok"], p["cacheWritePerMTok"], p["cacheReadPerMTok"])


def agent(name: str, a: dict[str, Any]) -> AgentSpec:
    """An agent: its preset's values, with every field the manifest sets taking their place."""
    command = tuple(a["command"]) if a["command"] is not None else None
    preset_name = a["preset"] or (preset_for(command[0]) if command else "script")
    base = PRESETS[preset_name]
    prompt = a["prompt"]
    dialogs = base.dialogs if a["dialogs"] is None else tuple(
        Dialog(d["name"], d["match"], tuple(d["keys"])) for d in a["dialogs"])
    return AgentSpec(
        name=name,
        command=command or base.command,
        process_names=base.process_names if a["processNames"] is None else tuple(a["processNames"]),
        env=_env(dict(base.env) | a["env"]),
        nudge=a["nudge"] or base.nudge,
        prompt_via=PromptVia(prompt["via"]) if prompt["via"] else base.prompt_via,
        prompt=prompt["text"] or base.prompt,
        ready=a["ready"] if a["ready"] is not None else base.ready,
        busy=a["busy"] if a["busy"] is not None else base.busy,
        dialogs=dialogs,
        preset=preset_name,
    )


def _rule(r: dict[str, Any]) -> RoutingRule:
    when = r["when"]
    return RoutingRule(
        model=r["model"],
        label=when.get("label"),
        title=when.get("title"),
        issue_type=when.get("type"),
        priority=when.get("priority"),
    )


def desired_state(
    manifests: list[Manifest], default_name: str, files: tuple[str, ...], root: str
) -> DesiredState:
    by_kind: dict[str, list[Manifest]] = {"Town": [], "Rig": [], "Convoy": [], "Routing": []}
    for m in manifests:
        by_kind[m.kind].append(m)
    towns = by_kind["Town"]
    return DesiredState(
        town=town(towns[0] if towns else None, default_name),
        rigs=tuple(rig(m) for m in by_kind["Rig"]),
        convoys=tuple(convoy(m) for m in by_kind["Convoy"]),
        routings=tuple(routing(m) for m in by_kind["Routing"]),
        files=files,
        root=root,
    )
