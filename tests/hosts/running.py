"""Runs a host of this folder as its user would: each command (``flask``, ``gunicorn``, ``rq``,
``celery``) a process of its own, started in the host's folder with the environment the docs
name, its output kept in a log; every process a test started, and every process those started
(an RQ work horse, a Celery pool child), is stopped when the test ends."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..servers import ROOT, free_port, wait_for_port

HOSTS = Path(__file__).parent
#: Where the commands of the environment the package is installed in are, as a user's venv's.
BIN = Path(sys.executable).parent
TOKEN = "host-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """What ``condition`` answers once it answers something true; fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


@dataclass
class Host:
    """One host app: its folder (copied, so that what it writes stays in the test's own), its
    environment, and the processes it runs."""

    folder: Path
    env: dict[str, str]
    logs: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def command(self, *arguments: str) -> list[str]:
        """A command as the docs give it: its program from the environment's ``bin``."""
        program, *rest = arguments
        found = BIN / program
        return [str(found) if found.exists() else program, *rest]

    def run(
        self, *arguments: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to its end; what it printed, both streams together."""
        done = subprocess.run(
            self.command(*arguments),
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(arguments)} exited {done.returncode}:\n{done.stdout}")
        return done

    def start(self, name: str, *arguments: str) -> subprocess.Popen[bytes]:
        """Start a command in the background, in a session of its own, logging to ``name``."""
        with (self.logs / f"{name}.log").open("ab") as sink:
            process = subprocess.Popen(
                self.command(*arguments),
                cwd=self.folder,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append((name, process))
        return process

    def serve(self, name: str, *arguments: str, port: int) -> httpx.Client:
        """Start a server command that listens on ``port``; a client of it."""
        process = self.start(name, *arguments)
        try:
            wait_for_port(port, process, timeout=60)
        except (RuntimeError, TimeoutError) as error:
            raise AssertionError(f"{name} did not listen:\n{self.log(name)}") from error
        return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM to every process started, and whatever they started; SIGKILL to what is left
        after ten seconds."""
        family = [pid for _, process in self.processes for pid in _family(process.pid)]
        for pid in family:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, process in self.processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for pid in family:
            _signal(pid, signal.SIGKILL)
        for _, process in self.processes:
            process.wait()
        self.processes.clear()


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants, as /proc has them now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _signal(pid: int, number: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, number)


@contextmanager
def host(name: str, tmp_path: Path, env: Mapping[str, str] | None = None) -> Iterator[Host]:
    """The host ``name`` of this folder, copied into ``tmp_path``; its processes are stopped
    when the block ends, and their logs are printed when it fails."""
    folder = tmp_path / name
    shutil.copytree(HOSTS / name, folder, ignore=shutil.ignore_patterns("__pycache__"))
    with _running(folder, tmp_path, env) as running:
        yield running


@contextmanager
def example(tmp_path: Path, env: Mapping[str, str] | None = None) -> Iterator[Host]:
    """The example app, run from the checkout's root as its docs say."""
    with _running(ROOT, tmp_path, env) as running:
        yield running


@contextmanager
def _running(folder: Path, tmp_path: Path, env: Mapping[str, str] | None) -> Iterator[Host]:
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "IMPORT_ABORT_", "PROMETHEUS_"))
    }
    environ.update({"PYTHONPATH": str(folder), "PYTHONUNBUFFERED": "1", **(env or {})})
    running = Host(folder, environ, logs)
    try:
        yield running
    except BaseException:
        for log in sorted(logs.glob("*.log")):
            print(f"==== {log.name}\n{log.read_text(errors='replace')[-6000:]}")
        raise
    finally:
        running.stop()


def port() -> int:
    return free_port()
