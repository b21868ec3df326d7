"""Watch what a pass depends on; any change asks for a (debounced) pass.

The manifests and the town's git refs (a commit, a checkout, a pull), and each
rig's Beads directory, so a worker's `gt done` is merged at once rather than
at the next interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


class TownWatcher:
    def __init__(self, root: Path, on_change: Callable[[], None]) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.event_type in ("opened", "closed", "closed_no_write"):
                    return  # opening and closing change nothing; writes arrive as their own events
                if event.is_directory and event.event_type == "modified":
                    return  # a directory's mtime follows its files, whose events we already get
                if str(event.src_path).endswith(".lock"):
                    return  # lock files are touched by every read of a store
                on_change()

        self.handler = Handler()
        self.observer: Any = Observer()
        self.observer.daemon = True
        self.observer.schedule(self.handler, str(root / "manifests"), recursive=True)
        git_dir = root / ".git"
        if (git_dir / "refs").is_dir():
            self.observer.schedule(self.handler, str(git_dir / "refs"), recursive=True)
            self.observer.schedule(self.handler, str(git_dir), recursive=False)  # HEAD, packed-refs
        self.extra: dict[str, Any] = {}
        self.observer.start()

    def watch_also(self, directories: Iterable[Path]) -> None:
        """Keep exactly these extra directories watched (rig stores come and go with manifests)."""
        wanted = {str(d) for d in directories if d.is_dir()}
        for gone in set(self.extra) - wanted:
            self.observer.unschedule(self.extra.pop(gone))
        for new in wanted - set(self.extra):
            self.extra[new] = self.observer.schedule(self.handler, new, recursive=False)

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)
