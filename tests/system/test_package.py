"""The package as a package index gets it: its files, its metadata, and a fresh install of it."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import flask_import_abort

from ..servers import ROOT

pytestmark = pytest.mark.slow  # real servers, workers or tools: run once, on the newest Python

SETUP = configparser.ConfigParser()
SETUP.read(ROOT / "setup.cfg")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from this checkout as ``make package`` builds them."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("flask_import_abort-*.whl")
    return wheel


def test_the_wheel_holds_the_package_its_types_and_licence_and_nothing_else(dist: Path) -> None:
    names = zipfile.ZipFile(_wheel(dist)).namelist()

    tops = {name.split("/")[0] for name in names}
    assert tops == {
        "flask_import_abort",
        f"flask_import_abort-{flask_import_abort.__version__}.dist-info",
    }
    assert "flask_import_abort/py.typed" in names
    assert "flask_import_abort/processes/sql/__init__.py" in names
    for locale in ("en", "de", "fr", "es", "it", "pt_BR", "nl", "ja", "zh_Hans"):
        catalogs = f"flask_import_abort/languages/translations/{locale}/LC_MESSAGES"
        assert f"{catalogs}/flask_import_abort.mo" in names
    assert any(
        name.endswith("dist-info/licenses/LICENSE") or name.endswith("/LICENSE") for name in names
    )


def test_the_sdist_carries_the_tests_and_the_docs_and_the_wheel_does_not(dist: Path) -> None:
    (sdist,) = dist.glob("flask_import_abort-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]

    for needed in ("LICENSE", "CHANGELOG.md", "README.md", "docs/pypi.md", "setup.cfg"):
        assert needed in names
    for carried in (
        "tests/conftest.py",
        "tests/web/test_endpoint.py",
        "docs/conf.py",
        "docs/index.md",
    ):
        assert carried in names
    assert not [name for name in names if "/_build/" in name or name.endswith(".db")]
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        assert not [n for n in wheel.namelist() if n.startswith(("tests/", "docs/", "bench/"))]


def test_an_unpacked_sdist_passes_its_quick_tests(dist: Path, tmp_path: Path) -> None:
    (sdist,) = dist.glob("flask_import_abort-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.glob("flask_import_abort-*")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMPORT_ABORT_REQUIRE")}
    environ["PYTHONPATH"] = str(unpacked)  # its own package, not the checkout's

    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "not system", "-p", "no:cacheprovider"],
        cwd=unpacked,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    assert " passed" in ran.stdout.splitlines()[-1]
    assert "failed" not in ran.stdout.splitlines()[-1]


def test_a_fresh_virtualenv_installs_the_wheel_and_imports_every_public_name(
    dist: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"{_wheel(dist)}[sql]"],
        check=True,
        capture_output=True,
    )
    script = (
        "import importlib.metadata, flask_import_abort as package\n"
        "missing = [name for name in package.__all__ if not hasattr(package, name)]\n"
        "assert not missing, missing\n"
        "from flask_import_abort.processes.sql import SQLImportRegistry, create_tables\n"
        "from flask_import_abort import errors\n"
        "from flask import Flask\n"
        "app = Flask('fresh')\n"
        "app.config['IMPORT_ABORT_BEARER_TOKENS'] = ['t']\n"
        "package.ImportAbort(app, registry=package.InMemoryImportRegistry())\n"
        "answer = app.test_client().post('/ccadmin/v1/importProcess/x/abort',\n"
        "    headers={'Authorization': 'Bearer t', 'Accept-Language': 'ja'})\n"
        "assert answer.headers['Content-Language'] == 'ja', answer.headers\n"
        "print(package.__file__)\n"
        "print(importlib.metadata.version('flask-import-abort'))\n"
    )

    run = subprocess.run(
        [python, "-c", script], cwd=tmp_path, check=True, capture_output=True, text=True
    )

    where, installed = run.stdout.split()
    assert where.startswith(str(env))  # the installed copy, not this checkout
    assert installed == flask_import_abort.__version__


def test_the_classifiers_name_every_python_from_the_oldest_to_the_newest_tested() -> None:
    classifiers = SETUP["metadata"]["classifiers"].split("\n")
    versions = sorted(
        int(minor) for minor in re.findall(r"Python :: 3\.(\d+)$", "\n".join(classifiers), re.M)
    )
    tested = re.search(r"^TEST_PYTHONS \?= (.+)$", (ROOT / "Makefile").read_text(), re.M)

    assert tested is not None
    oldest, newest = (f"3.{versions[0]}", f"3.{versions[-1]}")
    assert tested[1].split() == [oldest, newest]
    assert versions == list(range(versions[0], versions[-1] + 1))
    assert SETUP["options"]["python_requires"] == f">={oldest}"
    assert SETUP["metadata"]["license_expression"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_the_package_index_description_has_no_link_that_only_works_in_the_repository() -> None:
    description = (ROOT / SETUP["metadata"]["long_description"].removeprefix("file: ")).read_text()

    assert not re.search(r"\]\((?!https://)", description)  # images and links are absolute
    readme = (ROOT / "README.md").read_text()
    quick_start = re.search(r"## Quick start\n.*?```python\n(.*?)```", description, re.S)
    assert quick_start is not None
    assert quick_start[1] in readme
