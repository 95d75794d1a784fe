"""The example app under the gunicorn command its docs give, four workers: every scrape of
``/metrics`` counts the answers of all four, whichever worker it reaches. Nothing in the
environment but what a user has (no ``PROMETHEUS_MULTIPROC_DIR``)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..servers import fire
from .running import AUTH, TOKEN, example, port

pytestmark = pytest.mark.slow  # a real server in processes of its own


def test_the_examples_gunicorn_command_counts_every_workers_answers(tmp_path: Path) -> None:
    env = {
        "DEMO_BEARER_TOKEN": TOKEN,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
        "FLASK_DEMO_REAP_INTERVAL": "0",
        "TMPDIR": str(tmp_path),  # where gunicorn_conf.py keeps the workers' counts
    }
    folder = tmp_path / f"example-app-metrics-{os.getuid()}"
    folder.mkdir()
    (folder / "counter_left_by_an_earlier_run.db").write_bytes(b"stale")
    web = port()
    sent = 600
    with example(tmp_path, env) as app:
        client = app.serve(
            "gunicorn",
            "gunicorn", "-c", "example_app/gunicorn_conf.py", "--workers", "4",
            "--bind", f"127.0.0.1:{web}", "example_app:create_app()",
            port=web,
        )  # fmt: skip
        paths = [f"/ccadmin/v1/importProcess/no_such_{number}/abort" for number in range(sent)]
        answers = fire(f"127.0.0.1:{web}", paths, headers=AUTH, clients=20)
        assert Counter(status for _, status, _ in answers) == {404: sent}
        totals = []
        for _ in range(8):
            scraped = client.get("/metrics", headers=AUTH)
            assert scraped.status_code == 200, scraped.text
            totals.append(
                sum(
                    sample.value
                    for family in text_string_to_metric_families(scraped.text)
                    if family.name == "import_abort_answers"
                    for sample in family.samples
                    if sample.name == "import_abort_answers_total"
                )
            )
        workers = {path.stem.rsplit("_", 1)[-1] for path in folder.glob("counter_*.db")}

    assert totals == [sent] * 8
    assert len(workers) > 1  # the answers were spread over several workers
