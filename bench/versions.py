"""Two versions in one table: this checkout against another (``--against REF``, a git ref; by
default the last release), measured in the same run, so that a regression shows as a ratio.

Each version runs in a process of its own (:mod:`bench.probe`), importing the package from its
own checkout (the other is unpacked from git into a temporary folder), on the same Python and
the same dependencies. Every measure runs once a round in each version, the order turning
round by round, on tables of the same database server:

- the SQL registry's abort of a running process, with 500, 2,500 and 6,000 running processes
  in the table (each made with ``register`` and ``start``, as a host makes them), on
  PostgreSQL and SQLite; each version's µs, and this over the other's (time: at most 1.25);
- the registry's abort against the simplest durable abort write on the same table (one column,
  ``UPDATE ... WHERE token = ...`` and ``COMMIT``, through the raw driver, call by call);
- in-process, the plugin's abort against a hand-written Flask view (the same bearer check, the
  same registry call, an empty body).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, cast

from .scaling import POSTGRES_URL
from .stats import median, paired_ratio

ROOT = Path(__file__).resolve().parent.parent
#: The last release, 0.2.0.
RELEASE = "0e0a218"
ROWS = (500, 2_500, 6_000)
#: The floor's table: each pair of calls aborts two of its processes.
FLOOR_ROWS = 2_500
DATABASES = ("postgresql", "sqlite")


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The files of ``ref`` in a temporary folder (``git archive``: no worktree to tidy up)."""
    archive = subprocess.run(
        [shutil.which("git") or "git", "-C", str(ROOT), "archive", "--format=tar", ref],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="bench-version-") as folder:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


class Version:
    """A probe process measuring the package of one checkout."""

    def __init__(self, label: str, path: Path) -> None:
        self.label = label
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("probe.py")), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.version = self._answer()["version"]

    def send(self, op: str, **arguments: Any) -> None:
        commands = cast(IO[str], self.process.stdin)
        commands.write(json.dumps({"op": op, **arguments}) + "\n")
        commands.flush()

    def _answer(self) -> Any:
        line = cast(IO[str], self.process.stdout).readline()
        if not line:
            raise RuntimeError(f"the probe of {self.label} stopped (its error is above)")
        return json.loads(line)

    def ask(self, op: str, **arguments: Any) -> Any:
        self.send(op, **arguments)
        return self._answer()

    def close(self) -> None:
        """Drop the probe's tables and let it end."""
        try:
            if self.process.poll() is None:
                self.ask("drop")
        finally:
            cast(IO[str], self.process.stdin).close()
            cast(IO[str], self.process.stdout).close()
            self.process.wait(timeout=30)


def _all(versions: list[Version], op: str, **arguments: Any) -> list[Any]:
    """The same command to every version at once (filling tables), then their answers."""
    for version in versions:
        version.send(op, **arguments)
    return [version._answer() for version in versions]


def _urls(folder: str, index: int) -> dict[str, str]:
    """Each version's databases: the same PostgreSQL, a SQLite file of its own."""
    return {"postgresql": POSTGRES_URL, "sqlite": f"sqlite:///{Path(folder, f'v{index}.db')}"}


def run(
    against: str = RELEASE,
    *,
    rounds: int = 16,
    calls: int = 30,
    requests: int = 2_000,
    rows: tuple[int, ...] = ROWS,
    databases: tuple[str, ...] = DATABASES,
) -> dict[str, Any]:
    """Every measure in both versions: figures by version, and this version's over the other's."""
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-versions-") as folder:
        other = stack.enter_context(checkout(against))
        versions = [Version("this", ROOT), Version(against, other)]
        for version in versions:
            stack.callback(version.close)
        stores = {
            (database, count): f"{database}-{count}" for database in databases for count in rows
        }
        floors = {database: f"{database}-floor" for database in databases}
        for index, version in enumerate(versions):
            urls = _urls(folder, index)
            for (database, count), key in stores.items():
                table = f"bench_version{index}_{count}"
                version.send("fill", key=key, url=urls[database], table=table, rows=count)
            for database, key in floors.items():
                table = f"bench_version{index}_floor"
                version.send("fill", key=key, url=urls[database], table=table, rows=FLOOR_ROWS)
        for version in versions:  # the fills of both versions run at once
            for _ in range(len(stores) + len(floors)):
                version._answer()
        for key in [*stores.values(), *floors.values()]:  # warm up
            _all(versions, "abort", key=key, calls=5)
        _all(versions, "inprocess", calls=requests // 4)
        samples: dict[str, dict[str, list[Any]]] = {}
        for round_number in range(rounds):
            turn = versions if round_number % 2 else versions[::-1]
            for version in turn:
                figures = samples.setdefault(version.label, {})
                for key in stores.values():
                    answer = version.ask("abort", key=key, calls=calls)
                    figures.setdefault(key, []).append(median(answer["us"]))
                for key in floors.values():
                    answer = version.ask("floor", key=key, calls=calls)
                    figures.setdefault(key, []).append(answer)
                figures.setdefault("inprocess", []).append(version.ask("inprocess", calls=requests))
    return _summary(versions, samples, stores, floors)


def _summary(
    versions: list[Version],
    samples: dict[str, dict[str, list[Any]]],
    stores: dict[tuple[str, int], str],
    floors: dict[str, str],
) -> dict[str, Any]:
    this, other = (version.label for version in versions)
    result: dict[str, Any] = {
        "versions": {version.label: version.version for version in versions},
        "against": other,
        "abort": {},
        "floor": {},
    }
    for (database, count), key in stores.items():
        ours, theirs = samples[this][key], samples[other][key]
        result["abort"][f"{database} {count}"] = {
            this: median(ours),
            other: median(theirs),
            # time over time: how many times slower this version is
            **paired_ratio(ours, theirs),
        }
    for database, key in floors.items():
        row = {}
        for label in (this, other):
            rounds = samples[label][key]
            ratios = [
                median(
                    [raw / ours for raw, ours in zip(r["raw_us"], r["registry_us"], strict=True)]
                )
                for r in rounds
            ]
            row[label] = {
                "registry_us": median([median(r["registry_us"]) for r in rounds]),
                "raw_us": median([median(r["raw_us"]) for r in rounds]),
                "ratio": median(ratios),
            }
        result["floor"][database] = row
    inprocess = {}
    for label in (this, other):
        rounds = samples[label]["inprocess"]
        plugin = [r["plugin"] for r in rounds]
        bare = [r["bare"] for r in rounds]
        inprocess[label] = {
            "plugin_us": median(plugin),
            "bare_us": median(bare),
            **paired_ratio(bare, plugin),
        }
    result["inprocess"] = inprocess
    return result
