"""What work costs, as plain values: token counts and prices, what a closed issue cost, what a
budget has left.

Money is in dollars. A model has a price per task (``cost``, the estimate plans use) and, where
known, prices per million tokens (``TokenPrice``) that turn the token counts an agent recorded
into what it really cost.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MODEL_LABEL = "gt:model:"  # on an issue: the Routing model gt last started its worker with
BUDGET_LABEL = "budget:"  # on a HELP mail: which budget ran out (scope/name@amount)
# What Anthropic bills for a 5-minute cache write and a cache hit, against the input price.
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1


def rounded(value: float) -> float:
    """Sums of prices as people read them: no 0.30000000000000004."""
    return round(value, 9)


def dollars(value: float) -> str:
    """$0.0123, $12.5, -$0.07: no exponent, no trailing zeros."""
    text = f"{abs(value):.6f}".rstrip("0").rstrip(".") or "0"
    return f"{'-' if value < 0 and text != '0' else ''}${text}"


def saving(cost: float, default_cost: float, default_model: str) -> str:
    """``cost`` against ``default_cost``, what the same work costs on the default model, in words."""
    on_default = f"{dollars(default_cost)} on the default model, {default_model}"
    if default_cost > cost:
        return f"saves {dollars(default_cost - cost)} against {on_default}"
    if default_cost < cost:
        return f"{dollars(cost - default_cost)} more than {on_default}"
    return f"the same as {on_default}"


class Basis(enum.StrEnum):
    """How a closed issue's cost is known."""

    measured = "measured"  # from the token counts its agent recorded, at the model's token prices
    estimated = "estimated"  # the model's per-task cost: no token counts, or no token prices
    projected = "projected"  # not closed yet: its routed model's per-task cost


class ModelFrom(enum.StrEnum):
    """Where the model of a closed or running issue comes from."""

    recorded = "recorded"  # the gt:model: label gt wrote on the issue when it started the worker
    routed = "routed"  # the manifests' routing now (the issue carries no record)


class Scope(enum.StrEnum):
    convoy = "convoy"
    rig = "rig"


@dataclass(frozen=True)
class TokenUsage:
    """Tokens as the Anthropic API counts them; the four kinds do not overlap."""

    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.input + other.input, self.output + other.output,
                          self.cache_write + other.cache_write, self.cache_read + other.cache_read)

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    def as_dict(self) -> dict[str, int]:
        return {"input": self.input, "output": self.output, "cacheWrite": self.cache_write,
                "cacheRead": self.cache_read}


@dataclass(frozen=True)
class TokenPrice:
    """Dollars per million tokens of each kind."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    @classmethod
    def of(cls, input_price: float, output_price: float, cache_write: float | None = None,
           cache_read: float | None = None) -> TokenPrice:
        """Cache prices not given are derived from the input price, as Anthropic bills them."""
        return cls(input_price, output_price,
                   rounded(input_price * CACHE_WRITE_FACTOR) if cache_write is None else cache_write,
                   rounded(input_price * CACHE_READ_FACTOR) if cache_read is None else cache_read)

    def cost(self, tokens: TokenUsage) -> float:
        return rounded((tokens.input * self.input + tokens.output * self.output
                        + tokens.cache_write * self.cache_write + tokens.cache_read * self.cache_read) / 1e6)


@dataclass(frozen=True)
class IssueUsage:
    """The tokens an agent recorded while working one issue, over all its sessions."""

    rig: str
    issue: str
    tokens: TokenUsage
    sessions: int = 1
    models: tuple[str, ...] = ()  # the model ids the agent reported (claude-sonnet-4-5-...)


@dataclass(frozen=True)
class IssueCost:
    """What one closed issue cost, and how that is known."""

    rig: str
    issue: str
    convoy: str  # "" when no convoy lists it any more
    title: str
    model: str
    model_from: ModelFrom
    basis: Basis
    cost: float
    tokens: TokenUsage | None = None  # what its agent recorded, when it did
    sessions: int = 0
    agent_models: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"rig": self.rig, "issue": self.issue, "convoy": self.convoy or None, "title": self.title,
                "model": self.model, "modelFrom": self.model_from.value, "basis": self.basis.value,
                "cost": self.cost, "tokens": self.tokens.as_dict() if self.tokens else None,
                "sessions": self.sessions, "agentModels": list(self.agent_models)}


@dataclass(frozen=True)
class Projection:
    """What some work is expected to cost on its models, and on the Routing's default model."""

    cost: float
    default_model: str
    default_cost: float

    @property
    def saving(self) -> float:
        """Against running it on the default model (negative: it costs more)."""
        return rounded(self.default_cost - self.cost)

    def describe(self) -> str:
        return saving(self.cost, self.default_cost, self.default_model)


@dataclass(frozen=True)
class BudgetState:
    """A convoy's or a rig's budget and what is charged to it: closed issues (as gt costs counts
    them), workers on a hook (projected), and the starts of the plan at hand (projected)."""

    scope: Scope
    name: str
    rig: str
    budget: float
    spent: float = 0.0
    running: float = 0.0
    starting: float = 0.0
    blocked: tuple[str, ...] = ()  # issues it kept from starting

    @property
    def charged(self) -> float:
        return rounded(self.spent + self.running + self.starting)

    @property
    def left(self) -> float:
        return rounded(self.budget - self.charged)

    def fits(self, cost: float) -> bool:
        """A start of ``cost`` fits: something is left, and the start does not overrun it."""
        return self.left > 0 and rounded(cost) <= self.left

    @property
    def subject(self) -> str:
        return f"{self.scope.value}/{self.name}"

    @property
    def label(self) -> str:
        """The HELP mail's mark: one mail per budget amount, so raising it re-arms the alert."""
        return budget_label(self.scope, self.name, self.budget)

    def as_dict(self) -> dict[str, object]:
        return {"scope": self.scope.value, "name": self.name, "rig": self.rig, "budget": self.budget,
                "spent": self.spent, "running": self.running, "starting": self.starting, "left": self.left,
                "blocked": list(self.blocked)}


def budget_label(scope: Scope, name: str, amount: float) -> str:
    return f"{BUDGET_LABEL}{scope.value}/{name}@{amount:g}"


def recorded_model(labels: tuple[str, ...]) -> str | None:
    """The model gt recorded on an issue when it started its worker, if any."""
    return next((label[len(MODEL_LABEL):] for label in labels if label.startswith(MODEL_LABEL)), None)


@dataclass(frozen=True)
class CostTotal:
    """Closed issues summed by model, convoy or rig."""

    name: str
    issues: int = 0
    cost: float = 0.0
    measured: int = 0  # how many of them were measured; the rest are estimated

    def add(self, one: IssueCost) -> CostTotal:
        return CostTotal(self.name, self.issues + 1, rounded(self.cost + one.cost),
                         self.measured + (one.basis is Basis.measured))

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "issues": self.issues, "cost": self.cost, "measured": self.measured,
                "estimated": self.issues - self.measured}


def totals(costs: tuple[IssueCost, ...], key: str) -> tuple[CostTotal, ...]:
    """``costs`` summed by ``key`` (model, convoy or rig), in name order."""
    found: dict[str, CostTotal] = {}
    for one in costs:
        name = str(getattr(one, key))
        found[name] = found.get(name, CostTotal(name)).add(one)
    return tuple(found[n] for n in sorted(found))
