"""After acting, a pass reads again only what its actions touched."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from reconciler.clients.beads import IssueStore
from reconciler.clients.stores import default_stores
from reconciler.loop.town import Town
from reconciler.model.actions import Action, Op
from reconciler.model.desired import DesiredState, RigSpec
from reconciler.model.reasons import Reason

from .conftest import save

OTHER_RIG = """\
apiVersion: gt/v1
kind: Rig
metadata: {name: other}
spec:
  repo: rigs/other
  beads: {prefix: ot}
"""


class CountingStores:
    """The default store factory, counting how often each rig's store is opened to be read."""

    def __init__(self) -> None:
        self.opened: Counter[str] = Counter()

    def __call__(self, desired: DesiredState, rig: RigSpec) -> IssueStore:
        self.opened[rig.name] += 1
        return default_stores(desired, rig)


def _action(op: Op, rig: str, worker: str = "nux") -> Action:
    return Action(op=op, rig=rig, worker=worker, issue="dm-greet", session=f"gt-{rig}-{worker}",
                  reason=Reason.unassigned)


def test_only_the_rigs_an_action_changed_are_read_again(demo_town: Path) -> None:
    (demo_town / "rigs/other").mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(demo_town / "rigs/other")], check=True)
    save(demo_town / "manifests/rigs/other.yaml", OTHER_RIG)
    stores = CountingStores()
    town = Town.load(demo_town, stores)
    _, observed = town.plan(0.0)
    assert stores.opened == Counter({"demo": 1, "other": 1})

    stores.opened.clear()
    _, again = town.replan(observed, [], 0.0)
    assert again is observed and stores.opened == Counter()  # nothing done: nothing read

    town.replan(observed, [_action(Op.nudge, "demo"), _action(Op.prompt, "other", "slit")], 0.0)
    assert stores.opened == Counter()  # typing into a pane changes no store

    store = default_stores(town.desired, town.desired.rig("demo"))
    store.hook("dm-greet", "demo/workers/nux")  # what a spawn on demo would have done
    plan, after = town.replan(observed, [_action(Op.spawn, "demo")], 0.0)
    assert stores.opened == Counter({"demo": 1})  # the other rig is kept as it was seen
    assert after.rig("other") is observed.rig("other")
    hooked = {i.id: i.assignee for i in after.rig("demo").issues}
    assert hooked["dm-greet"] == "demo/workers/nux"
    assert not any(a.op is Op.spawn and a.issue == "dm-greet" for a in plan.actions)
