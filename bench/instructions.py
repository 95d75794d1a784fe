"""Instructions per request, counted by callgrind: the same on every run, whatever the load."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .inprocess import PATHS

ROOT = Path(__file__).parent.parent


def count(variant: str, kind: str, calls: int) -> float:
    """Instructions per request of one variant on one path."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += ["--collect-atstart=no", "--toggle-collect=functools_reduce"]
    command += [sys.executable, "-m", "bench.count", variant, kind, str(calls)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    match = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{done.stderr[-2000:]}")
    return int(match[1].replace(",", "")) / calls


def run(calls: int = 500) -> dict[str, Any]:
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is missing: install Debian's valgrind package")
    jobs = [(variant, kind) for kind, route in PATHS.items() for variant in route.names]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: count(*job, calls), jobs), strict=True))
    results: dict[str, Any] = {}
    for kind, route in PATHS.items():
        row: dict[str, Any] = {name: {"instructions": counts[name, kind]} for name in route.names}
        row["ratio"] = row["bare"]["instructions"] / row["plugin"]["instructions"]
        if "monolingual" in row:  # what localizing costs: the plugin without it, over it
            plugin = row["plugin"]["instructions"]
            row["languages_ratio"] = row["monolingual"]["instructions"] / plugin
        results[kind] = row
    return results
