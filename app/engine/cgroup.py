"""The memory a container or a capped session really has: the process's cgroup limit.

/proc/meminfo tells the whole machine's RAM; inside Docker, a systemd slice or any memory
cgroup the kernel kills the process at the cgroup's limit instead. Both cgroup versions are
read: v2 (``memory.max``, ``memory.current``, ``memory.stat``'s ``file``) and v1
(``memory.limit_in_bytes`` or ``hierarchical_memory_limit``, ``memory.usage_in_bytes``,
``memory.stat``'s ``total_cache``). Page cache counts as free, as the kernel reclaims it before
it kills. Every ancestor's limit applies, so the smallest wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UNLIMITED = 1 << 60  # v1 reports "no limit" as a huge page-aligned number


@dataclass(frozen=True)
class CgroupMemory:
    limit: int  # bytes the process's cgroup may hold
    used: int  # bytes held now that the kernel cannot reclaim (page cache left out)

    @property
    def available(self) -> int:
        return max(0, self.limit - self.used)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 < value < UNLIMITED else None


def _stat(path: Path, *keys: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key in keys and value.strip().isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


def _dirs(mount: Path, rel: str) -> list[Path]:
    """The cgroup's directory and its ancestors under ``mount``, innermost first. In a
    container with its own cgroup namespace the path is "/" and the mount is the cgroup."""
    here = mount / rel.strip("/")
    if not here.is_dir():
        here = mount
    out = [here]
    while here != mount and mount in here.parents:
        here = here.parent
        out.append(here)
    return out


def cgroup_memory(root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self/cgroup")):
    """The process's cgroup memory (limit and unreclaimable use), or None when no limit."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _hier, controllers, rel = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if controllers == "" and (root / "cgroup.controllers").exists():  # v2, unified
            return _v2(_dirs(root, rel))
        if "memory" in controllers.split(","):
            return _v1(_dirs(root / "memory", rel))
    return None


def _v2(dirs: list[Path]) -> CgroupMemory | None:
    limits = [v for d in dirs if (v := _read_int(d / "memory.max")) is not None]
    if not limits:
        return None
    used = _read_int(dirs[0] / "memory.current") or 0
    cache = _stat(dirs[0] / "memory.stat", "file").get("file", 0)
    return CgroupMemory(min(limits), max(0, used - cache))


def _v1(dirs: list[Path]) -> CgroupMemory | None:
    stat = _stat(dirs[0] / "memory.stat", "hierarchical_memory_limit", "total_cache", "cache")
    limits = [v for d in dirs if (v := _read_int(d / "memory.limit_in_bytes")) is not None]
    hier = stat.get("hierarchical_memory_limit")
    if hier is not None and 0 < hier < UNLIMITED:
        limits.append(hier)
    if not limits:
        return None
    used = _read_int(dirs[0] / "memory.usage_in_bytes") or 0
    cache = stat.get("total_cache", stat.get("cache", 0))
    return CgroupMemory(min(limits), max(0, used - cache))
