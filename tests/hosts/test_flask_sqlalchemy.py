"""A Flask-SQLAlchemy shop on PostgreSQL whose imports run on RQ workers (a forked work horse per
job) or on a Celery prefork worker of two children: imports in a row, two at once, and one
aborted over HTTP, all from the host's side (its gunicorn, its worker command)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import kombu
import pytest
import redis

from ..databases import fresh_postgres_database, require_rabbitmq, require_redis
from .running import AUTH, TOKEN, Host, host, port, wait_for

pytestmark = pytest.mark.slow  # real servers and workers: run once, on the newest Python

#: A Redis database of the hosts' own, emptied before and after each test.
REDIS_DB = 13
STATUS = "/ccadmin/v1/importProcess"


def _redis_url() -> str:
    return require_redis().rsplit("/", 1)[0] + f"/{REDIS_DB}"


@pytest.fixture
def shop_env() -> Iterator[dict[str, str]]:
    url = _redis_url()
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        with fresh_postgres_database("host") as database:
            yield {
                "FLASK_SQLALCHEMY_DATABASE_URI": database,
                "FLASK_IMPORT_ABORT_BEARER_TOKENS": json.dumps([TOKEN]),
                "FLASK_IMPORT_ABORT_STATUS_ROUTE": "true",
                "REDIS_URL": url,
            }
    finally:
        client.flushdb()
        client.close()


def _start_import(client: httpx.Client, count: int, pause: float = 0.0) -> str:
    answer = client.post(STATUS, json={"count": count, "pause": pause}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["processId"]
    return token


def _ended(client: httpx.Client, token: str, timeout: float = 60.0) -> dict[str, object]:
    def final() -> dict[str, object] | None:
        status = client.get(f"{STATUS}/{token}", headers=AUTH).json()
        return status if status["completed"] else None

    found: dict[str, object] = wait_for(final, f"import {token} to end", timeout)
    return found


def _imports_run_and_abort(shop: Host, client: httpx.Client) -> None:
    """Four imports in a row, two at once, then one aborted over HTTP."""
    for _ in range(4):
        token = _start_import(client, 1000)
        status = _ended(client, token)
        assert (status["progress"], status["completedPercentage"]) == ("succeeded", 100), status
    both = [_start_import(client, 300, pause=0.3) for _ in range(2)]
    ends = [_ended(client, token) for token in both]
    assert [status["progress"] for status in ends] == ["succeeded", "succeeded"], ends
    # One child each: the second started before the first ended.
    assert max(str(s["startTime"]) for s in ends) < min(str(s["endTime"]) for s in ends), ends

    token = _start_import(client, 5000, pause=0.2)
    wait_for(
        lambda: client.get(f"{STATUS}/{token}", headers=AUTH).json()["progress"] == "processing",
        "the import to start",
    )
    answer = client.post(f"{STATUS}/{token}/abort", headers=AUTH)
    assert answer.json() == {"success": True}
    status = _ended(client, token)
    assert status["progress"] == "aborted", status
    assert 0 < int(str(status["completedPercentage"])) < 100, status


def _no_worker_failed(shop: Host, *logs: str) -> None:
    for name in logs:
        for bad in ("DuplicatePreparedStatement", "Traceback", "outside of application context"):
            assert bad not in shop.log(name), f"{name}: {bad}\n{shop.log(name)[-4000:]}"


def test_a_flask_sqlalchemy_shop_runs_and_aborts_its_imports_on_rq_workers(
    tmp_path: Path, shop_env: dict[str, str]
) -> None:
    with host("sqlalchemy_rq", tmp_path, shop_env) as shop:
        shop.run("flask", "--app", "shop", "init-db")
        for number in (1, 2):  # two workers: two imports at once
            shop.start(f"rq-{number}", "rq", "worker", "-c", "shop.worker")
        web = port()
        client = shop.serve(
            "gunicorn",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{web}",
            "shop:create_app()",
            port=web,
        )
        _imports_run_and_abort(shop, client)
        _no_worker_failed(shop, "rq-1", "rq-2", "gunicorn")


@pytest.fixture
def celery_queue() -> Iterator[tuple[str, str]]:
    """A RabbitMQ queue of the test's own, deleted at the end: the broker's URL, its name."""
    broker, name = require_rabbitmq(), f"shop-imports-{secrets.token_hex(4)}"
    try:
        yield broker, name
    finally:
        with kombu.Connection(broker) as connection:
            connection.default_channel.queue_delete(name)


def test_a_flask_sqlalchemy_shop_runs_and_aborts_its_imports_on_a_celery_prefork_worker(
    tmp_path: Path, shop_env: dict[str, str], celery_queue: tuple[str, str]
) -> None:
    broker, queue = celery_queue
    celery = {
        "broker_url": broker,
        "result_backend": shop_env["REDIS_URL"],
        "task_default_queue": queue,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
    }
    env = {**shop_env, "FLASK_CELERY": json.dumps(celery)}
    with host("sqlalchemy_celery", tmp_path, env) as shop:
        shop.run("flask", "--app", "shop", "init-db")
        shop.start(
            "celery", "celery", "-A", "make_celery", "worker", "--pool", "prefork",
            "--concurrency", "2", "--loglevel", "INFO",
        )  # fmt: skip
        wait_for(lambda: "ready." in shop.log("celery"), "the Celery worker")
        web = port()
        client = shop.serve(
            "gunicorn", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{web}", "shop:create_app()",
            port=web,
        )  # fmt: skip
        _imports_run_and_abort(shop, client)
        _no_worker_failed(shop, "celery", "gunicorn")
