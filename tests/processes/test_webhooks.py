"""OCC's Import Complete webhook: a notice written with every end of an import process, in the
end's own transaction, and delivered at least once to real HTTP receivers on loopback, signed
as OCC signs it."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from flask_import_abort.processes import (
    AbortRequest,
    ImportState,
    InMemoryImportRegistry,
    WorkerRegistry,
    reap,
    webhooks,
)
from flask_import_abort.processes.notices import (
    SIGNATURE_HEADER,
    Notice,
    NoticeRefused,
    is_due,
    signature,
    verify_notice,
)
from flask_import_abort.processes.signals import notice_delivered, notice_failed, notice_retried
from flask_import_abort.processes.sql import SQLImportRegistry
from flask_import_abort.processes.webhooks import Delivered, WebhookDispatcher

from .. import celery_app
from ..databases import require_postgres, sql_registry
from ..helpers import LEASE, Clock, database_for
from ..receiver import receiver, verified

SECRET = "webhook-secret-of-the-tests"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def hooked(request: pytest.FixtureRequest, tmp_path: Any, clock: Clock) -> Iterator[WorkerRegistry]:
    """Each registry the package ships, writing notices, on ``clock``."""
    if request.param == "memory":
        yield InMemoryImportRegistry(lease=LEASE, clock=clock, webhooks=True)
        return
    url = database_for(request.param, tmp_path)
    with sql_registry(url, lease=LEASE, clock=clock, webhooks=True) as registry:
        yield registry


def _dispatcher(registry: Any, url: str, **options: Any) -> WebhookDispatcher:
    options.setdefault("first_wait", 0.001)
    options.setdefault("timeout", 2.0)
    return WebhookDispatcher(registry, url, SECRET, **options)


def _ended(registry: WorkerRegistry, state: ImportState) -> str:
    token = registry.register(metadata={"format": "json", "id": "Products"})
    registry.start(token)
    registry.report_progress(token, 40, total=100, failed=3)
    registry.finish(token, state)
    return token


# The notices: one with every end, none with a chunk's.


def test_every_end_writes_one_notice_whoever_records_it(
    hooked: WorkerRegistry, clock: Clock
) -> None:
    succeeded = _ended(hooked, ImportState.SUCCEEDED)
    failed = _ended(hooked, ImportState.FAILED)
    worker_aborted = hooked.register()
    hooked.start(worker_aborted)
    hooked.abort(worker_aborted)
    hooked.finish(worker_aborted, ImportState.SUCCEEDED)  # recorded aborted
    pending = hooked.register()
    hooked.abort(pending)  # ends at once
    lost, forced = hooked.register(), hooked.register()
    hooked.start(lost)
    hooked.start(forced)
    hooked.abort(forced, AbortRequest(stop_deadline=10))
    parallel = hooked.register_chunks(3)  # type: ignore[attr-defined]
    for chunk in parallel.chunks:
        hooked.start(chunk)
        hooked.finish(chunk, ImportState.SUCCEEDED)
    running = hooked.register()
    hooked.start(running)
    clock.advance(LEASE - 1)
    hooked.heartbeat(running)
    clock.advance(2)  # lost and forced are past their lease and deadline; running is not

    reap(hooked)

    ended = [succeeded, failed, worker_aborted, pending, lost, forced, parallel.token]
    for token in ended:
        [notice] = hooked.notices(token)  # type: ignore[attr-defined]
        assert (notice.state, notice.attempts) == ("pending", 0)
    for token in (running, *parallel.chunks):
        assert hooked.notices(token) == []  # type: ignore[attr-defined]
    ids = [hooked.notices(token)[0].id for token in ended]  # type: ignore[attr-defined]
    assert len(set(ids)) == len(ids)


def test_a_registry_without_webhooks_writes_none(worker_registry: WorkerRegistry) -> None:
    token = _ended(worker_registry, ImportState.SUCCEEDED)
    assert worker_registry.notices(token) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("wrong", ["true", 1, None])
def test_the_webhooks_option_is_true_or_false(wrong: Any, tmp_path: Any) -> None:
    with pytest.raises(TypeError, match="webhooks is True or False"):
        InMemoryImportRegistry(webhooks=wrong)
    with pytest.raises(TypeError, match="webhooks is True or False"):
        SQLImportRegistry(f"sqlite:///{tmp_path / 'x.db'}", webhooks=wrong)


# Delivery: signed as OCC signs it, its id the same on every attempt.


def test_a_notice_is_delivered_signed_with_occs_fields_and_its_own(hooked: WorkerRegistry) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    with receiver([200]) as hooks:
        done = _dispatcher(
            hooked, hooks.url, base_url="https://shop.example.com", path="/p"
        ).deliver()
        [request] = hooks.took()

    assert (done.delivered, done.retried, done.failed) == (1, 0, 0)
    assert verified(request.body, request.headers[SIGNATURE_HEADER], SECRET)
    assert request.headers[SIGNATURE_HEADER] == signature(request.body, SECRET)
    body = json.loads(request.body)
    [notice] = hooked.notices(token)  # type: ignore[attr-defined]
    assert body["processId"] == token
    assert body["standaloneItem"] == {
        "result": {"successCount": 40, "failureCount": 3},
        "format": "json",
        "id": "Products",
    }
    assert body["links"] == [{"rel": "status", "href": f"https://shop.example.com/p/{token}"}]
    assert (body["progress"], body["deliveryId"]) == ("succeeded", notice.id)
    assert request.headers["Idempotency-Key"] == notice.id
    assert (notice.state, notice.attempts) == ("delivered", 1)


def test_an_abort_says_who_why_when_and_its_request(hooked: WorkerRegistry) -> None:
    token = hooked.register()
    hooked.abort(token, AbortRequest(actor="ops", reason="wrong file", request_id="r-7"))
    with receiver([200]) as hooks:
        _dispatcher(hooked, hooks.url).deliver()
        body = json.loads(hooks.took()[0].body)

    assert (body["progress"], body["abortedBy"], body["abortReason"]) == (
        "aborted",
        "ops",
        "wrong file",
    )
    assert body["abortRequestId"] == "r-7"
    assert body["abortRequestedAt"] is not None
    assert "links" not in body  # no public base URL, no link


#: OCC's own example of its dataImport body (standalone mode), from its reference.
OCC_EXAMPLE = {
    "processId": "import_123",
    "standaloneItem": {
        "result": {"successCount": 1, "failureCount": 0},
        "format": "xml",
        "id": "test001",
    },
    "failedRecordsFileLink": "http://example.com/123456789/importFile.zip",
    "metaLink": "http://example.com/123456789/importStatus.zip",
    "failedAssociationsFileLink": "http://example.com/123456789/importFile.zip",
}


def _nulls(value: Any, where: str = "body") -> list[str]:
    if value is None:
        return [where]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _nulls(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [found for n, item in enumerate(value) for found in _nulls(item, f"{where}[{n}]")]
    return []


def _notice_of(registry: WorkerRegistry, token: str) -> dict[str, Any]:
    with receiver([200]) as hooks:
        _dispatcher(registry, hooks.url).deliver()
        [request] = hooks.took()
    body: dict[str, Any] = json.loads(request.body)
    return body


def test_a_standalone_notice_is_occs_example_with_its_own_fields_beside(
    hooked: WorkerRegistry,
) -> None:
    links = {key: value for key, value in OCC_EXAMPLE.items() if key.endswith("Link")}
    item = {"mode": "standalone", "fileName": "test001.xml", "format": "xml", "id": "test001"}
    token = hooked.register(metadata={**item, **links})
    hooked.start(token)
    hooked.report_progress(token, 1, total=1)
    hooked.finish(token, ImportState.SUCCEEDED)

    body = _notice_of(hooked, token)

    occs = {key: body[key] for key in OCC_EXAMPLE}
    assert occs == {**OCC_EXAMPLE, "processId": token}
    assert body["standaloneItem"]["result"]["successCount"] == 1  # how OCC's receivers read it
    assert set(body) - set(OCC_EXAMPLE) == {"deliveryId", "progress", "endTime", "abortRequested"}
    assert "bundleItems" not in body
    assert _nulls(body) == []  # what is absent is left out


def test_a_bundle_notice_lists_its_item_in_bundle_items_and_a_parallel_import_is_one(
    hooked: WorkerRegistry,
) -> None:
    item = {"mode": "bundle", "fileName": "products.zip", "format": "json", "id": "Products"}
    parallel = hooked.register_chunks(2, metadata=item)  # type: ignore[attr-defined]
    for written, chunk in zip((30, 12), parallel.chunks, strict=True):
        hooked.start(chunk)
        hooked.report_progress(chunk, written, failed=1)
        hooked.finish(chunk, ImportState.SUCCEEDED)

    body = _notice_of(hooked, parallel.token)

    assert body["processId"] == parallel.token
    assert body["bundleItems"] == [
        {
            "fileName": "products.zip",
            "result": {"successCount": 42, "failureCount": 2},
            "format": "json",
            "id": "Products",
        }
    ]
    assert "standaloneItem" not in body
    assert "metaLink" not in body
    assert _nulls(body) == []


def test_an_import_without_metadata_is_a_standalone_item_of_its_counts_alone(
    hooked: WorkerRegistry,
) -> None:
    token = hooked.register()
    hooked.abort(token)

    body = _notice_of(hooked, token)

    assert body["standaloneItem"] == {"result": {"successCount": 0, "failureCount": 0}}
    assert (body["progress"], body["abortRequested"]) == ("aborted", True)
    assert _nulls(body) == []


@pytest.mark.parametrize("mode", ["Bundle", "productsV2", 3])
def test_a_mode_that_is_not_occs_is_refused_at_registration(
    worker_registry: WorkerRegistry, mode: object
) -> None:
    with pytest.raises(ValueError, match="metadata's mode is OCC's import mode"):
        worker_registry.register(metadata={"mode": mode})


def test_twice_500_then_200_is_three_attempts_one_delivery_and_the_same_id(
    hooked: WorkerRegistry, clock: Clock
) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    with receiver([500, 500, 200]) as hooks:
        dispatcher = _dispatcher(hooked, hooks.url, first_wait=1.0)
        assert dispatcher.deliver().retried == 1
        assert dispatcher.deliver().retried == 0  # not due for a second
        clock.advance(1.5)
        assert dispatcher.deliver().retried == 1
        clock.advance(2.5)  # the second wait is twice the first
        assert dispatcher.deliver().delivered == 1
        clock.advance(60)
        assert dispatcher.deliver().delivered == 0
        took = hooks.took()

    assert len(took) == 3
    assert len({request.headers["Idempotency-Key"] for request in took}) == 1
    assert len({json.loads(request.body)["deliveryId"] for request in took}) == 1
    [notice] = hooked.notices(token)  # type: ignore[attr-defined]
    assert (notice.state, notice.attempts, notice.last_error) == ("delivered", 3, None)


def test_five_failed_attempts_fail_the_notice_and_say_so_and_deliver_failed_tries_again(
    hooked: WorkerRegistry, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    token = _ended(hooked, ImportState.FAILED)
    with receiver([503, 503, 503, 503, 503, 200]) as hooks:
        dispatcher = _dispatcher(hooked, hooks.url)
        with caplog.at_level(logging.WARNING, logger="flask_import_abort.webhooks"):
            for _ in range(5):
                dispatcher.deliver()
                clock.advance(100)
        [notice] = hooked.notices(token)  # type: ignore[attr-defined]
        assert (notice.state, notice.attempts) == ("failed", 5)
        assert "answered 503" in (notice.last_error or "")
        assert dispatcher.deliver().delivered == 0
        assert dispatcher.retry_failed() == 1
        assert dispatcher.deliver().delivered == 1
        assert len(hooks.took()) == 6
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "failed after 5 attempts" in errors[0]


def test_each_url_on_its_own(hooked: WorkerRegistry, clock: Clock) -> None:
    _ended(hooked, ImportState.SUCCEEDED)
    with receiver([200]) as good, receiver([500, 200]) as flaky:
        dispatcher = WebhookDispatcher(
            hooked, [good.url, flaky.url], SECRET, first_wait=0.001, timeout=2.0
        )
        assert dispatcher.deliver().retried == 1
        clock.advance(1)
        assert dispatcher.deliver().delivered == 1
        assert (len(good.took()), len(flaky.took())) == (1, 2)  # the good one not again


# Safe by default.


def test_a_receiver_that_hangs_costs_a_dispatcher_its_timeout(hooked: WorkerRegistry) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    with receiver(["hang"]) as hooks:
        started = time.monotonic()
        done = _dispatcher(hooked, hooks.url, timeout=0.5).deliver()
        took = time.monotonic() - started

    assert done.retried == 1
    assert took < 2 * 0.5 + 1.0  # its timeout, with a busy machine's slack
    [notice] = hooked.notices(token)  # type: ignore[attr-defined]
    assert notice.last_error is not None
    assert "no answer within 0.5 s" in notice.last_error


def test_a_receiver_that_drips_its_answer_is_cut_at_the_deadline(hooked: WorkerRegistry) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    with receiver(["drip"]) as hooks:
        started = time.monotonic()
        done = _dispatcher(hooked, hooks.url, timeout=1.0).deliver()
        took = time.monotonic() - started

    assert done.retried == 1
    assert took < 2 * 1.0 + 1.0
    [notice] = hooked.notices(token)  # type: ignore[attr-defined]
    assert "no answer within 1 s" in (notice.last_error or "")


def test_a_redirect_is_not_followed(hooked: WorkerRegistry) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    with receiver(["redirect"]) as hooks:
        done = _dispatcher(hooked, hooks.url).deliver()
        took = hooks.took()

    assert done.retried == 1
    assert [request.path for request in took] == ["/hooks/imports"]
    [notice] = hooked.notices(token)  # type: ignore[attr-defined]
    assert "answered 302" in (notice.last_error or "")


def test_a_receiver_verifying_with_another_secret_refuses_the_notice(
    hooked: WorkerRegistry, clock: Clock
) -> None:
    _ended(hooked, ImportState.SUCCEEDED)
    with receiver(["verify"], secret="not-the-same-secret") as wrong:
        assert _dispatcher(hooked, wrong.url).deliver().retried == 1
    with receiver(["verify"], secret=SECRET) as right:
        clock.advance(1)
        assert _dispatcher(hooked, right.url).deliver().delivered == 1


def test_the_secret_and_the_answers_body_never_reach_the_logs(
    hooked: WorkerRegistry, caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    with receiver([500]) as hooks, caplog.at_level(logging.DEBUG):
        dispatcher = _dispatcher(hooked, hooks.url, attempts=2)
        dispatcher.deliver()
        clock.advance(10)
        dispatcher.deliver()

    said = " ".join(record.getMessage() for record in caplog.records)
    said += repr(dispatcher) + str(hooked.notices(token))  # type: ignore[attr-defined]
    assert SECRET not in said
    assert "never logged" not in said
    assert "answered 500" in said


@pytest.mark.parametrize(
    ("url", "options", "says"),
    [
        ("http://hooks.example.com/in", {}, "must be https"),
        ("ftp://hooks.example.com/in", {}, "absolute https URL"),
        ("https://user:pw@hooks.example.com/in", {}, "carries no credentials"),
        ("/relative", {}, "absolute https URL"),
    ],
)
def test_a_url_that_is_not_safe_is_refused_at_construction(
    url: str, options: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        WebhookDispatcher(InMemoryImportRegistry(webhooks=True), url, SECRET, **options)


def test_http_is_taken_to_loopback_or_when_allowed_explicitly() -> None:
    registry = InMemoryImportRegistry(webhooks=True)
    for url in ("http://127.0.0.1:9/in", "http://[::1]:9/in", "http://localhost:9/in"):
        WebhookDispatcher(registry, url, SECRET)
    WebhookDispatcher(registry, "http://hooks.internal/in", SECRET, allow_http=True)
    with pytest.raises(TypeError, match="allow_http is True or False"):
        WebhookDispatcher(registry, "http://hooks.internal/in", SECRET, allow_http="false")  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", None, b"bytes"])
def test_a_secret_is_a_string_not_an_empty_one(secret: Any) -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookDispatcher(InMemoryImportRegistry(webhooks=True), "https://h.example/in", secret)


# Through crashes, and from several dispatchers.


def _at_once(call: Callable[[WebhookDispatcher], object], dispatchers: list[Any]) -> None:
    """``call`` of each dispatcher, each in a thread of its own, all at once."""
    threads = [threading.Thread(target=call, args=(one,)) for one in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_two_dispatchers_on_postgresql_make_each_attempt_once() -> None:
    with sql_registry(require_postgres(), webhooks=True) as registry:
        tokens = [_ended(registry, ImportState.SUCCEEDED) for _ in range(40)]
        other = SQLImportRegistry(registry.engine.url, table_name=registry.table.name)
        with receiver([200]) as hooks:
            dispatchers = [_dispatcher(registry, hooks.url), _dispatcher(other, hooks.url)]
            counts: list[int] = []

            def deliver(dispatcher: WebhookDispatcher) -> None:
                for _ in range(5):
                    counts.append(dispatcher.deliver(limit=5).delivered)

            _at_once(deliver, dispatchers)
            took = hooks.took()
        other.close()

    ids = [request.headers["Idempotency-Key"] for request in took]
    assert sorted(ids) == sorted(set(ids))  # no notice twice
    assert len(ids) == sum(counts) == 40
    assert {json.loads(request.body)["processId"] for request in took} == set(tokens)


def test_signals_count_each_attempt(hooked: WorkerRegistry, clock: Clock) -> None:
    seen: list[str] = []
    signals = (notice_delivered, notice_retried, notice_failed)

    def heard(sender: object, **details: Any) -> None:
        seen.append(details["signal"])

    receivers = {
        signal: (lambda sender, name=signal.name, **details: heard(sender, signal=name))
        for signal in signals
    }
    for signal, receiver_of in receivers.items():
        signal.connect(receiver_of)
    try:
        _ended(hooked, ImportState.SUCCEEDED)
        _ended(hooked, ImportState.SUCCEEDED)
        with receiver([500, 200, 500]) as hooks:
            dispatcher = _dispatcher(hooked, hooks.url, attempts=2)
            dispatcher.deliver()
            clock.advance(10)
            dispatcher.deliver()
    finally:
        for signal, receiver_of in receivers.items():
            signal.disconnect(receiver_of)
    assert sorted(seen) == ["notice_delivered", "notice_failed", "notice_retried"]


# From the engines' workers: they end the import, and deliver its notice themselves.


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["celery", "rq"])
def test_a_worker_ends_the_import_and_its_engine_delivers_the_notice(
    engine_name: str, tmp_path: Any
) -> None:
    from .. import rq_app
    from ..system.test_engines import PAUSE, SIZE, _engine, _wait_for

    with (
        receiver([200]) as hooks,
        _engine(engine_name, "postgresql", tmp_path, webhook_url=hooks.url) as engine,
    ):
        module = celery_app if engine_name == "celery" else rq_app
        if engine_name == "rq":  # the job that delivers, and comes again every half second
            rq_app.imports.deliver_every("tests.rq_app:delivery", 0.5)
        done = module.import_rows.options(total=3 * SIZE).enqueue(3, SIZE, PAUSE)
        aborted = module.import_rows.options(total=50 * SIZE).enqueue(50, SIZE, PAUSE)
        engine.until_ended(done)
        assert engine.abort(aborted).status_code == 200
        engine.until_ended(aborted)
        took = _wait_for(lambda: len(hooks.took()) >= 2 and hooks.took(), timeout=60)

    ended = {json.loads(request.body)["processId"]: json.loads(request.body) for request in took}
    assert set(ended) == {done, aborted}
    assert ended[done]["progress"] == "succeeded"
    assert ended[done]["standaloneItem"]["result"]["successCount"] == 3 * SIZE
    assert ended[aborted]["progress"] == "aborted"
    assert all(verified(r.body, r.headers[SIGNATURE_HEADER], SECRET) for r in took)


# Under attack and faults.


def test_two_dispatchers_and_a_slow_receiver_post_each_notice_once() -> None:
    with sql_registry(require_postgres(), webhooks=True) as registry:
        tokens = [_ended(registry, ImportState.SUCCEEDED) for _ in range(70)]
        other = SQLImportRegistry(registry.engine.url, table_name=registry.table.name)
        with receiver(["slow"]) as hooks:  # 0.1 s an answer: 7 s of posts for one dispatcher
            dispatchers = [
                _dispatcher(registry, hooks.url, timeout=1.0),
                _dispatcher(other, hooks.url, timeout=1.0),
            ]
            for dispatcher in dispatchers:
                dispatcher.lease = 1.5  # one attempt's timeout and a short margin
            done: list[Delivered] = []
            _at_once(lambda one: done.append(one.deliver(limit=100)), dispatchers)
            took = hooks.took()
        other.close()

    ids = [request.headers["Idempotency-Key"] for request in took]
    assert len(ids) == len(set(ids)) == 70  # every notice posted once, none twice
    assert sum(one.delivered for one in done) == 70
    assert all(one.delivered > 0 for one in done)  # both worked through the notices
    assert sum(one.lost_claims for one in done) == 0
    assert {json.loads(request.body)["processId"] for request in took} == set(tokens)


def test_a_claim_takes_no_more_notices_than_asked(hooked: WorkerRegistry) -> None:
    for _ in range(5):
        _ended(hooked, ImportState.SUCCEEDED)

    claims = [hooked.claim_notices(1, 60.0) for _ in range(6)]  # type: ignore[attr-defined]

    assert [len(claim) for claim in claims] == [1, 1, 1, 1, 1, 0]


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"X-Note": "café"}, "visible ASCII"),
        ({"X-Note": "a\r\nX-Injected: 1"}, "visible ASCII"),
        ({"X-Note": " padded"}, "visible ASCII"),
        ({"X Note": "x"}, "token"),
        ({"X-Note:": "x"}, "token"),
        ({"webhook-id": "x"}, "dispatcher sets"),
    ],
)
def test_a_header_that_could_not_be_sent_is_refused_at_construction(
    headers: dict[str, str], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        _dispatcher(InMemoryImportRegistry(webhooks=True), "https://h.example/in", headers=headers)
    assert _dispatcher(
        InMemoryImportRegistry(webhooks=True),
        "https://h.example/in",
        headers={"X-Note": "a\tvisible value"},
    ).headers == {"X-Note": "a\tvisible value"}


def test_any_error_of_an_attempt_is_a_failed_attempt_recorded(
    hooked: WorkerRegistry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    dispatcher = _dispatcher(hooked, "https://h.example/in")

    def broken(*arguments: Any, **options: Any) -> Any:
        raise UnicodeEncodeError("ascii", "café", 3, 4, "ordinal not in range(128)")

    monkeypatch.setattr(webhooks, "notice_body", broken)
    done = dispatcher.deliver()

    assert (done.delivered, done.retried, done.failed) == (0, 1, 0)
    [notice] = hooked.notices(token)  # type: ignore[attr-defined]
    assert (notice.state, notice.attempts) == ("pending", 1)
    assert "UnicodeEncodeError" in (notice.last_error or "")


def test_a_urls_path_is_never_printed(
    hooked: WorkerRegistry, caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    with receiver([500]) as hooks, caplog.at_level(logging.DEBUG):
        url = hooks.url.replace("/hooks/imports", "/hooks/T000/B000/pathsecret?key=querysecret")
        dispatcher = _dispatcher(hooked, url, attempts=2)
        dispatcher.deliver()
        clock.advance(10)
        dispatcher.deliver()

    # the package's own lines (httpx's INFO line is httpx's: the docs say to keep it quiet)
    said = " ".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("flask_import_abort")
    )
    said += repr(dispatcher) + str(hooked.notices(token))  # type: ignore[attr-defined]
    assert "pathsecret" not in said
    assert "querysecret" not in said
    port = url.split(":")[2].split("/")[0]
    assert f"http://127.0.0.1:{port}/…: answered 500" in said


def test_each_notice_carries_standard_webhooks_headers_that_its_library_verifies(
    hooked: WorkerRegistry,
) -> None:
    token = _ended(hooked, ImportState.SUCCEEDED)
    with receiver([200]) as hooks:
        _dispatcher(hooked, hooks.url).deliver()
        [request] = hooks.took()
    headers = {name.lower(): value for name, value in request.headers.items()}

    # PyPI's standardwebhooks, an independent verifier, given the secret's raw bytes
    verified_body = Webhook(SECRET.encode()).verify(request.body, headers)
    assert verified_body["processId"] == token
    # and given the whsec_ form a library that expects base64 takes
    whsec = "whsec_" + base64.b64encode(SECRET.encode()).decode()
    assert Webhook(whsec).verify(request.body, headers)["processId"] == token
    # the package's own helper answers the id to drop repeats by
    delivery_id = verify_notice(request.body, headers, SECRET)
    assert delivery_id == headers["webhook-id"] == headers["idempotency-key"]
    assert verified(request.body, headers["x-oracle-cc-webhook-signature"], SECRET)


def test_a_replayed_or_altered_notice_is_refused_by_the_helper(hooked: WorkerRegistry) -> None:
    _ended(hooked, ImportState.SUCCEEDED)
    with receiver([200]) as hooks:
        _dispatcher(hooked, hooks.url).deliver()
        [request] = hooks.took()
    headers = dict(request.headers)
    sent_at = int(headers["webhook-timestamp"])

    assert verify_notice(request.body, headers, SECRET, now=sent_at + 299)
    with pytest.raises(NoticeRefused, match="300 s"):  # replayed six minutes later
        verify_notice(request.body, headers, SECRET, now=sent_at + 360)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET.encode()).verify(
            request.body,
            {**{k.lower(): v for k, v in headers.items()}, "webhook-timestamp": str(sent_at - 360)},
        )
    with pytest.raises(NoticeRefused, match="signature"):
        verify_notice(request.body.replace(b"succeeded", b"failed"), headers, SECRET)
    with pytest.raises(NoticeRefused, match="signature"):
        verify_notice(request.body, headers, "another-secret")
    with pytest.raises(NoticeRefused, match="webhook-id"):
        verify_notice(request.body, {"Content-Type": "application/json"}, SECRET)


def test_standard_headers_can_be_turned_off(hooked: WorkerRegistry) -> None:
    _ended(hooked, ImportState.SUCCEEDED)
    with receiver([200]) as hooks:
        _dispatcher(hooked, hooks.url, standard_headers=False).deliver()
        [request] = hooks.took()
    assert not {"webhook-id", "webhook-signature"} & {name.lower() for name in request.headers}
    with pytest.raises(TypeError, match="standard_headers"):
        _dispatcher(hooked, hooks.url, standard_headers="false")


_T0 = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("state", "next_attempt", "claimed_until", "due"),
    [
        ("pending", 0, None, True),
        ("pending", None, None, True),
        ("pending", 5, None, False),  # its next attempt is still ahead
        ("pending", 0, 5, False),  # another dispatcher's claim still holds
        ("pending", 0, -1, True),  # that claim lapsed
        ("delivered", 0, None, False),
        ("failed", 0, None, False),
    ],
)
def test_when_a_notice_is_due_is_one_rule(
    state: str, next_attempt: int | None, claimed_until: int | None, due: bool
) -> None:
    """The rule every outbox claims by, as the process layer writes it."""

    def at(seconds: int | None) -> datetime | None:
        return None if seconds is None else _T0 + timedelta(seconds=seconds)

    notice = Notice("n1", "t1", state, _T0, next_attempt_at=at(next_attempt))
    assert is_due(notice, at(claimed_until), _T0) is due


# Exports: OCC's Export Complete webhook, configured apart.


def test_an_exports_notice_is_occs_data_export_and_goes_to_the_export_urls_alone(
    hooked: WorkerRegistry,
) -> None:
    imported = _ended(hooked, ImportState.SUCCEEDED)
    said = {"format": "json", "id": "Products", "metaLink": "https://files.example.com/m.zip"}
    exported = hooked.register(kind="export", metadata=said)
    hooked.start(exported)
    hooked.report_progress(exported, 120, total=120)
    link = "https://files.example.com/exports/products.json"
    hooked.update_metadata(exported, {"fileLink": link, "failedRecordsFileLink": "not OCC's"})
    hooked.finish(exported, ImportState.SUCCEEDED)

    with receiver([200]) as imports, receiver([200]) as exports:
        done = _dispatcher(
            hooked,
            imports.url,
            export_urls=[exports.url],
            base_url="https://shop.example.com",
            path="/ccadmin/v1/importProcess",
            export_path="/ccadmin/v1/exportProcess",
        ).deliver()
        [to_imports], [to_exports] = imports.took(), exports.took()

    assert done.delivered == 2
    assert json.loads(to_imports.body)["processId"] == imported
    body = json.loads(to_exports.body)
    assert verified(to_exports.body, to_exports.headers[SIGNATURE_HEADER], SECRET)
    assert body["processId"] == exported
    assert body["standaloneItem"] == {
        "result": {"successCount": 120, "failureCount": 0},
        "format": "json",
        "id": "Products",
    }
    assert (body["fileLink"], body["metaLink"]) == (link, said["metaLink"])
    assert "failedRecordsFileLink" not in body  # dataExport has fileLink in its place
    status = f"https://shop.example.com/ccadmin/v1/exportProcess/{exported}"
    assert body["links"] == [{"rel": "status", "href": status}]


def test_a_notice_of_a_kind_with_no_url_is_delivered_to_none(hooked: WorkerRegistry) -> None:
    exported = hooked.register(kind="export")
    hooked.start(exported)
    hooked.finish(exported, ImportState.FAILED)

    with receiver([200]) as imports:
        done = _dispatcher(hooked, imports.url).deliver()
        assert imports.took() == []

    assert done.delivered == 1
    [notice] = hooked.notices(exported)  # type: ignore[attr-defined]
    assert (notice.state, notice.delivered_to) == ("delivered", ())


def test_a_dispatcher_of_export_urls_alone_delivers_exports() -> None:
    registry = InMemoryImportRegistry(webhooks=True)
    exported = registry.register(kind="export")
    registry.start(exported)
    registry.finish(exported, ImportState.SUCCEEDED)

    with receiver([200]) as exports:
        done = _dispatcher(registry, [], export_urls=exports.url).deliver()
        [request] = exports.took()

    assert (done.delivered, json.loads(request.body)["processId"]) == (1, exported)
    with pytest.raises(ValueError, match="one URL at least"):
        WebhookDispatcher(registry, [], SECRET)
