"""make bench: every benchmark, a table on stdout, and the figures as JSON in bench/results/."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import (
    endtoend,
    engines,
    exports,
    floor,
    inprocess,
    instructions,
    liveness,
    parallel,
    scaling,
    signin,
    stopping,
    versions,
    webhooks,
)

RESULTS = Path(__file__).with_name("results")
#: What each ratio should reach, as the README's Performance section states it.
TARGETS = {
    "inprocess success": 0.85,
    "inprocess 404": 0.85,
    "inprocess 401": 0.85,
    "instructions success": 0.85,
    "instructions 404": 0.85,
    "instructions 401": 0.85,
    "inprocess reason": 0.85,
    "instructions reason": 0.85,
    "inprocess 404 en": 0.85,
    "instructions 404 en": 0.85,
    "inprocess 404 de": 0.85,
    "instructions 404 de": 0.85,
    # The plugin without languages over the plugin, in instructions: what localizing costs.
    "languages 404 en": 0.97,
    "languages 404 de": 0.90,
    "endtoend": 0.95,
    "scaling": 1.3,
    # The registry's calls through SQLAlchemy's Connection over the raw driver's.
    "floor sqlite": 0.55,
    "floor postgresql": 0.70,
    # The registry's abort over the simplest durable abort write (one column, raw driver).
    "simplest sqlite": 0.55,
    "simplest postgresql": 0.65,
    # This version's abort over another's (--against), in time: at most.
    "versions abort": 1.25,
    # A JWT-authorized abort over a static token's, in instructions.
    "signin": 0.90,
    # A chunk's heartbeat, 16 chunks beating at once, over one process beating alone: at most.
    "parallel heartbeat": 1.2,
    # The worker's end without its webhook notice over the end with it: at least.
    "webhooks end": 0.80,
    # abortExportProcess: the import abort's targets, in process and against the floor.
    "exports success": 0.85,
    "exports 404": 0.85,
    "exports 401": 0.85,
    "exports floor sqlite": 0.55,
    "exports floor postgresql": 0.70,
}


SECTIONS = [
    "inprocess",
    "instructions",
    "endtoend",
    "scaling",
    "stopping",
    "floor",
    "liveness",
    "engines",
    "signin",
    "parallel",
    "webhooks",
    "exports",
    "versions",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds: a smoke run")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
    )
    parser.add_argument(
        "--against",
        default=versions.RELEASE,
        metavar="REF",
        help=f"the git ref the versions section measures beside this checkout "
        f"(default {versions.RELEASE}, the last release)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    sections = args.only or SECTIONS
    report: dict[str, Any] = {"machine": machine(), "quick": quick, "targets": TARGETS}
    started = time.monotonic()
    for section in sections:
        run, quick_arguments, show = _SECTIONS[section]
        if section == "versions":
            run = partial(run, args.against)
        report[section] = run(**quick_arguments) if quick else run()
        show(report[section])
    report["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for path in (RESULTS / f"bench-{stamp}.json", RESULTS / "latest.json"):
        path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{report['seconds']} s; figures in {RESULTS / f'bench-{stamp}.json'}")


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": {
            name: version(name)
            for name in ("flask", "werkzeug", "flask-smorest", "sqlalchemy", "gunicorn")
        },
    }


def _mark(ratio: float, target: float, at_most: bool = False) -> str:
    met = ratio <= target if at_most else ratio >= target
    return f"{ratio:5.3f}  {'≤' if at_most else '≥'} {target:.2f}  {'met' if met else 'MISSED'}"


def _quartiles(row: dict[str, Any]) -> str:
    return f"  rounds {row['q1']:.2f}-{row['q3']:.2f}"


def print_per_request(title: str, results: dict[str, Any], *, metric: str, target: str) -> None:
    """The in-process table: ``metric`` per request of plugin and bare, on each path."""
    digits, floor_digits = (1, 2) if metric == "us_per_request" else (0, 0)
    print(f"\n{title}")
    print(f"{'path':8} {'plugin':>8} {'bare':>8}  ratio  target       {'smorest':>8} {'floor':>7}")
    for kind, row in results.items():
        cells = [f"{row[name][metric]:8.{digits}f}" for name in ("plugin", "bare")]
        extra = ""
        if "smorest" in row:
            extra = f"{row['smorest'][metric]:8.{digits}f} {row['floor'][metric]:7.{floor_digits}f}"
        spread = _quartiles(row) if "q1" in row else ""
        mark = _mark(row["ratio"], TARGETS[f"{target} {kind}"])
        print(f"{kind:8} {cells[0]} {cells[1]}  {mark}  {extra}{spread}")
    for kind, row in results.items():
        if "languages_ratio" in row and metric == "instructions":
            mark = _mark(row["languages_ratio"], TARGETS[f"languages {kind}"])
            print(
                f"languages, {kind}: monolingual {row['monolingual'][metric]:.0f} over plugin "
                f"{row['plugin'][metric]:.0f}  {mark}"
            )


def print_endtoend(results: dict[str, Any]) -> None:
    print("\nEnd to end, gunicorn gthread + wrk: requests/s, p50 and p99 in ms (medians of runs)")
    print(f"{'path':8} {'plugin rps  p50   p99':>22} {'bare rps  p50   p99':>22}  ratio  target")
    for kind, row in results.items():
        cells = [
            f"{row[name]['rps']:8.0f} {row[name]['p50_ms']:5.2f} {row[name]['p99_ms']:5.2f}"
            for name in ("plugin", "bare")
        ]
        floor = f"   floor {row['floor']['rps']:.0f} rps" if "floor" in row else ""
        mark = _mark(row["ratio"], TARGETS["endtoend"])
        print(f"{kind:8} {cells[0]:>22} {cells[1]:>22}  {mark}{_quartiles(row)}{floor}")


def print_scaling(results: dict[str, Any]) -> None:
    sizes = [str(size) for size in scaling.SIZES]
    print("\nSQL registry: µs per requested abort by stored processes (median of rounds)")
    print(f"{'database':11}" + "".join(f"{int(size):>11,}" for size in sizes) + "  ratio  target")
    for database, row in results.items():
        cells = "".join(f"{row[size]['us_per_abort']:11.0f}" for size in sizes)
        print(f"{database:11}{cells}  {_mark(row['ratio'], TARGETS['scaling'], at_most=True)}")


def print_stopping(results: dict[str, Any]) -> None:
    print("\nAbort-to-stop: from the abort's answer to the worker recording aborted, in ms")
    print(
        f"{'registry, batch':20} {'median':>7} {'max':>7} {'bound':>7}  (a batch + a poll interval)"
    )
    for name, row in results.items():
        met = "met" if row["max_ms"] <= row["bound_ms"] else "MISSED"
        print(
            f"{name:20} {row['median_ms']:7.1f} {row['max_ms']:7.1f} {row['bound_ms']:7.1f}  {met}"
        )


def print_floor(results: dict[str, Any]) -> None:
    print("\nSQL registry against the raw driver sending its statement: µs per call (medians)")
    print(f"{'database, call':28} {'registry':>9} {'raw':>7}  ratio  target")
    for database, rows in results.items():
        for call, row in rows.items():
            kind = "simplest" if call.endswith("simplest") else "floor"
            mark = _mark(row["ratio"], TARGETS[f"{kind} {database}"])
            print(
                f"{database + ', ' + call:28} {row['registry_us']:9.0f} {row['raw_us']:7.0f}"
                f"  {mark}{_quartiles(row)}"
            )


def print_liveness(results: dict[str, Any]) -> None:
    print("\nLiveness, real workers and reapers: seconds (median, max) against their bound")
    for database, row in results.items():
        lease, interval = row["lease_s"], row["interval_s"]
        ended = "met" if row["ended_max_s"] <= row["ended_bound_s"] else "MISSED"
        forced = "met" if row["forced_max_s"] <= row["forced_bound_s"] else "MISSED"
        print(
            f"{database:11} SIGKILL to lost {row['lost_median_s']:.2f}, {row['lost_max_s']:.2f};"
            f" to failed {row['ended_median_s']:.2f}, {row['ended_max_s']:.2f}"
            f" (≤ lease {lease:g} + reap interval {interval:g}: {ended});"
            f" deadline to forced {row['forced_median_s']:.2f}, {row['forced_max_s']:.2f}"
            f" (≤ 1: {forced})"
        )


def print_engines(results: dict[str, Any]) -> None:
    print("\nJob engines, real workers: abort to aborted in ms, deadline to forced end in s")
    for engine, row in results.items():
        stop_ok = (
            row["stop_median_ms"] <= row["stop_median_bound_ms"]
            and row["stop_max_ms"] <= row["stop_max_bound_ms"]
        )
        forced_ok = row["forced_max_s"] <= row["forced_bound_s"]
        print(
            f"{engine:7} abort to aborted {row['stop_median_ms']:.0f}, {row['stop_max_ms']:.0f}"
            f" (≤ {row['stop_median_bound_ms']:.0f}, {row['stop_max_bound_ms']:.0f}:"
            f" {'met' if stop_ok else 'MISSED'}); deadline to forced"
            f" {row['forced_median_s']:.2f}, {row['forced_max_s']:.2f}"
            f" (≤ 1: {'met' if forced_ok else 'MISSED'})"
        )


def print_signin(results: dict[str, Any]) -> None:
    print("\nOCC's sign-in and an identity provider")
    row = results["instructions"]
    print(
        f"an abort with a signed access token: {row['signed']:,.0f} instructions, with the static "
        f"token {row['static']:,.0f}: ratio {_mark(row['ratio'], TARGETS['signin'])}"
    )
    jwks = results["jwks"]
    print(
        f"the provider's key set under load: {jwks['requests']} aborts ({jwks['ok']} answered "
        f"200) from {jwks['tokens']} tokens over {jwks['lifespans']} lifespans of "
        f"{jwks['lifespan_s']:g} s: fetched {jwks['fetches']} times, "
        f"{jwks['fetches_per_lifespan']:.2f} a lifespan (target 1)"
    )


def print_parallel(results: dict[str, Any]) -> None:
    print("\nParallel imports, real workers: from the abort's 200 to the last chunk stopped, in ms")
    for name, row in results["abort"].items():
        met = "met" if row["median_ms"] <= row["bound_ms"] else "MISSED"
        print(
            f"{name:10} chunks, a worker each: median {row['median_ms']:.0f}, max "
            f"{row['max_ms']:.0f} (median ≤ a batch + 100 = {row['bound_ms']:.0f}: {met})"
        )
    print("Throughput, 20,000 products on PostgreSQL, a Celery pool of 4, no batch pause:")
    for count, row in results["throughput"].items():
        print(
            f"  {count} chunk(s): {row['seconds']:.2f} s, {row['products_per_s']:,.0f} products/s,"
            f" speed-up {row['speedup']:.2f}"
        )
    beats = results["heartbeats"]
    print(
        f"A heartbeat on PostgreSQL: one process alone {beats['single_cpu_us']:.0f} µs CPU, "
        f"{beats['single_statements']:.2f} statements; 16 chunks at once "
        f"{beats['chunk_cpu_us']:.0f} µs, {beats['chunk_statements']:.2f} statements; ratio "
        f"{_mark(beats['cpu_ratio'], TARGETS['parallel heartbeat'], at_most=True)}; the "
        f"import's row untouched: {beats['parent_row_untouched']}"
    )


def print_webhooks(results: dict[str, Any]) -> None:
    print("\nWebhooks: the worker's end with its notice, and from an end to the receiver's 200")
    for database, row in results.items():
        end, took = row["end"], row["latency"]
        print(
            f"{database:11} end {end['without_us']:.0f} µs, with its notice "
            f"{end['with_us']:.0f} µs: ratio {_mark(end['ratio'], TARGETS['webhooks end'])}; "
            f"delivered right away {took['right_away_median_ms']:.1f} ms "
            f"(max {took['right_away_max_ms']:.1f}), by a reaper every {took['interval_s']:g} s "
            f"{took['reaper_median_s']:.2f} s (max {took['reaper_max_s']:.2f})"
        )


def print_exports(results: dict[str, Any]) -> None:
    print("\nabortExportProcess in process: µs per request (median of interleaved rounds)")
    print(f"{'path':8} {'plugin':>8} {'bare':>8}  ratio  target")
    for kind, row in results["inprocess"].items():
        cells = f"{row['plugin']['us_per_request']:8.1f} {row['bare']['us_per_request']:8.1f}"
        mark = _mark(row["ratio"], TARGETS[f"exports {kind}"])
        print(f"{kind:8} {cells}  {mark}{_quartiles(row)}")
    print("\nThe SQL registry's export abort against the raw driver: µs per call (medians)")
    for database, row in results["floor"].items():
        mark = _mark(row["ratio"], TARGETS[f"exports floor {database}"])
        cells = f"{row['registry_us']:8.0f} {row['raw_us']:8.0f}"
        print(f"{database + ', abort':30} {cells}  {mark}{_quartiles(row)}")


def print_versions(results: dict[str, Any]) -> None:
    this, other = "this", results["against"]
    names = {label: f"{label} ({results['versions'][label]})" for label in (this, other)}
    print(f"\nTwo versions in one run: {names[this]} against {names[other]}")
    print(f"{'abort, running processes':28} {'this µs':>8} {'other µs':>8}  this/other  target")
    for name, row in results["abort"].items():
        mark = _mark(row["ratio"], TARGETS["versions abort"], at_most=True)
        print(f"{name:28} {row[this]:8.0f} {row[other]:8.0f}  {mark}{_quartiles(row)}")
    print("the registry's abort against the simplest durable write (raw / registry, per call):")
    for database, row in results["floor"].items():
        cells = "  ".join(
            f"{label} {row[label]['registry_us']:.0f} µs / {row[label]['raw_us']:.0f} µs "
            f"= {row[label]['ratio']:.3f}"
            for label in (this, other)
        )
        mark = _mark(row[this]["ratio"], TARGETS[f"simplest {database}"])
        print(f"  {database:11} {cells}   this: {mark}")
    print("in-process, the plugin against a hand-written view (bare / plugin):")
    for label in (this, other):
        row = results["inprocess"][label]
        print(
            f"  {label:10} plugin {row['plugin_us']:.1f} µs, bare {row['bare_us']:.1f} µs: "
            f"{row['ratio']:.3f}{_quartiles(row)}"
        )


#: Each section: what runs it, its arguments for a --quick run, and what prints its table.
_SECTIONS: dict[str, tuple[Callable[..., Any], dict[str, Any], Callable[[Any], None]]] = {
    "inprocess": (
        inprocess.run,
        {"rounds": 5, "calls": 500},
        partial(
            print_per_request,
            "In-process, through app.wsgi_app: µs per request (median of interleaved rounds)",
            metric="us_per_request",
            target="inprocess",
        ),
    ),
    "instructions": (
        instructions.run,
        {"calls": 100},
        partial(
            print_per_request,
            "In-process, counted by callgrind: instructions per request (the same every run)",
            metric="instructions",
            target="instructions",
        ),
    ),
    "endtoend": (endtoend.run, {"rounds": 1, "seconds": 1}, print_endtoend),
    "scaling": (scaling.run, {"rounds": 3, "calls": 20}, print_scaling),
    "stopping": (stopping.run, {"trials": 2}, print_stopping),
    "floor": (floor.run, {"rounds": 3, "calls": 50}, print_floor),
    "liveness": (liveness.run, {"trials": 2}, print_liveness),
    "engines": (engines.run, {"trials": 3}, print_engines),
    "signin": (signin.run, {"calls": 100, "requests": 600, "tokens": 20}, print_signin),
    "parallel": (parallel.run, {"trials": 2, "rounds": 1, "beats": 100}, print_parallel),
    "webhooks": (webhooks.run, {"rounds": 3, "ends": 10, "trials": 2}, print_webhooks),
    "exports": (
        exports.run,
        {"rounds": 3, "calls": 200, "floor_rounds": 3, "floor_calls": 30},
        print_exports,
    ),
    "versions": (versions.run, {"rounds": 3, "calls": 10, "requests": 300}, print_versions),
}


if __name__ == "__main__":
    main()
