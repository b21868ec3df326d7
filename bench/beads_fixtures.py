"""Time the embedded Beads store on real ``bd`` exports and check it loses nothing.

Usage: python bench/beads_fixtures.py [FIXTURE_DIR]

FIXTURE_DIR defaults to ../shared/fixtures/beads beside the repository. For
each ``*.jsonl`` there, a temp copy is loaded, asked for ``ready``, one open
issue is hooked and another closed; then every other line must be byte-identical,
the record count unchanged and the two changed records must keep all their fields.
Exits 1 if a check fails, 0 (with a message) if the fixtures are absent.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT.parent / "shared" / "fixtures" / "beads"
CHANGED_KEYS = {"status", "assignee", "updated_at", "closed_at", "close_reason"}

try:
    from reconciler.clients.beads.embedded import JsonlStore
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, str(ROOT))
    from reconciler.clients.beads.embedded import JsonlStore

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = action()
    return result, (time.perf_counter() - start) * 1000.0


def main_prefix(records: list[dict[str, Any]]) -> str:
    prefixes = Counter(str(r["id"]).rsplit("-", 1)[0] for r in records if "id" in r)
    return prefixes.most_common(1)[0][0]


def check_rewrite(before: bytes, after: bytes, changed_ids: set[str]) -> list[str]:
    """Problems found comparing the original file with the rewritten one."""
    old_lines, new_lines = before.split(b"\n"), after.split(b"\n")
    if len(old_lines) != len(new_lines):
        return [f"line count changed: {len(old_lines)} -> {len(new_lines)}"]
    problems = []
    seen = set()
    for number, (old_raw, new_raw) in enumerate(zip(old_lines, new_lines, strict=True), 1):
        if old_raw == new_raw:
            continue
        old, new = json.loads(old_raw), json.loads(new_raw)
        seen.add(new.get("id"))
        if new.get("id") not in changed_ids:
            problems.append(f"line {number} ({new.get('id')}) changed but should not have")
        if list(new)[: len(old)] != list(old):
            problems.append(f"line {number}: key order changed")
        lost = {k for k in old if k not in CHANGED_KEYS and old[k] != new.get(k)}
        if lost:
            problems.append(f"line {number}: fields altered: {sorted(lost)}")
    if seen != changed_ids:
        problems.append(f"expected changes to {sorted(changed_ids)}, saw {sorted(map(str, seen))}")
    return problems


def bench_file(source: Path) -> tuple[dict[str, Any], list[str]]:
    raw = source.read_bytes()
    records = [json.loads(line) for line in raw.splitlines() if line.strip()]
    row: dict[str, Any] = {
        "file": source.name,
        "records": len(records),
        "untyped": sum("_type" not in r for r in records),
        "statuses": Counter(str(r.get("status")) for r in records),
    }
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / ".beads" / "issues.jsonl"
        copy.parent.mkdir()
        shutil.copyfile(source, copy)
        store = JsonlStore(copy, main_prefix(records), actor="bench")
        listed, row["load"] = timed(store.list)
        ready, row["ready"] = timed(store.ready)
        row["issues"], row["ready_n"] = len(listed), len(ready)
        free = [i for i in ready if i.assignee is None]
        if len(free) < 2:
            return row, ["fewer than two free ready issues to hook and close"]
        hook_id, close_id = free[0].id, free[1].id
        _, row["hook"] = timed(lambda: store.hook(hook_id, "gastown/polecats/bench"))
        _, row["close"] = timed(lambda: store.close(close_id, "bench"))
        row["ready_after"] = len(store.ready())
        after = copy.read_bytes()
    problems = check_rewrite(raw, after, {hook_id, close_id})
    new_count = sum(1 for line in after.splitlines() if line.strip())
    if new_count != len(records):
        problems.append(f"record count changed: {len(records)} -> {new_count}")
    return row, problems


def print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'file':<24} {'records':>7} {'issues':>6} {'load ms':>8} {'ready ms':>8}"
    head += f" {'ready':>5} {'hook ms':>8} {'close ms':>8} {'ready after':>11}"
    print(head)
    print("-" * len(head))
    for r in rows:
        line = f"{r['file']:<24} {r['records']:>7} {r['issues']:>6} {r['load']:>8.1f}"
        line += f" {r['ready']:>8.1f} {r['ready_n']:>5} {r.get('hook', 0.0):>8.1f}"
        line += f" {r.get('close', 0.0):>8.1f} {r.get('ready_after', '-'):>11}"
        print(line)
    print()
    for r in rows:
        statuses = ", ".join(f"{k} {v}" for k, v in r["statuses"].most_common())
        print(f"{r['file']}: {r['untyped']} records without _type; statuses: {statuses}")


def main(argv: list[str]) -> int:
    fixture_dir = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    files = sorted(fixture_dir.glob("*.jsonl")) if fixture_dir.is_dir() else []
    if not files:
        print(f"skipped: no Beads fixtures in {fixture_dir}")
        return 0
    rows, failed = [], False
    for source in files:
        row, problems = bench_file(source)
        rows.append(row)
        for problem in problems:
            failed = True
            print(f"FAIL {source.name}: {problem}")
    print_table(rows)
    print("\nall other lines byte-identical, record counts unchanged" if not failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
