"""The dashboard, driven in headless Chromium as a person would: start, watch, abort."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from sqlalchemy import MetaData, create_engine, func, select

from example_app.products import COUNT, products_table
from flask_import_abort.errors import ImportFinished

from ..servers import ROOT, Server, demo

pytestmark = pytest.mark.slow  # real servers, workers or tools: run once, on the newest Python

CHROMIUM = "/usr/bin/chromium"
#: Where each step's screenshot is kept, for a look at a failing run.
ARTIFACTS = ROOT / "tests" / "artifacts" / "dashboard"
#: The screenshot the README and the docs show; `make screenshot` takes it afresh.
SCREENSHOT = ROOT / "docs" / "dashboard.png"
TOKEN = "demo-browser-token"
#: 40 batches of 500 products, 0.1 s each: about 4 s an import.
BATCH_PAUSE = 0.1
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {
        "DEMO_BEARER_TOKEN": TOKEN,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
        "FLASK_DEMO_BATCH_PAUSE": str(BATCH_PAUSE),
    }
    with demo(tmp_path / "demo.log", env) as server:
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 600})
    page = context.new_page()
    yield page
    context.close()


class Steps:
    """Numbered screenshots of one test, in tests/artifacts/dashboard/."""

    def __init__(self, page: Page, name: str) -> None:
        self.page, self.name, self.count = page, name, 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob(f"{name}-*.png"):
            old.unlink()

    def shot(self, step: str) -> None:
        self.count += 1
        path = ARTIFACTS / f"{self.name}-{self.count:02d}-{step}.png"
        self.page.screenshot(path=path, full_page=True)


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height, from its header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def percentage(row: Locator) -> int:
    return int(row.locator(".percentage").inner_text().removesuffix(" %"))


def written(row: Locator) -> int:
    return int(row.locator(".written").inner_text())


def stored(database: str, process_id: str) -> int:
    """Products the import wrote, counted in the database itself."""
    table = products_table(MetaData())
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            query = select(func.count()).where(table.c.process_id == process_id)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_a_person_starts_an_import_watches_it_and_aborts_it(
    server: Server, page: Page, tmp_path: Path
) -> None:
    steps = Steps(page, "abort")
    database = f"sqlite:///{tmp_path / 'imports.db'}"
    notice = page.locator("#notice")
    rows = page.locator("#processes tbody tr")

    page.goto(f"http://{server.host}/#token={TOKEN}")
    expect(page.locator("#empty")).to_be_visible()
    steps.shot("empty")

    # Start an import and see its bar move while the page refreshes itself.
    page.get_by_role("button", name="Start import").click()
    expect(notice).to_contain_text("submitted")
    expect(rows).to_have_count(1)
    row = rows.first
    process_id = row.get_attribute("data-process-id")
    assert process_id is not None
    assert process_id in notice.inner_text()
    expect(row.locator(".percentage")).not_to_have_text("0 %")
    first = percentage(row)
    expect(row.locator(".percentage")).not_to_have_text(f"{first} %")
    assert first < percentage(row) < 100
    expect(row).to_have_attribute("data-progress", "processing")
    expect(row.locator(".col-executor")).to_have_text("thread")
    steps.shot("running")

    # Abort it, saying why: the import stops after its current batch and keeps what it wrote.
    page.once("dialog", lambda dialog: dialog.accept("Wrong supplier file"))
    row.get_by_role("button", name="Abort").click()
    expect(notice).to_contain_text(f"Abort of {process_id} passed on")
    expect(row).to_have_attribute("data-progress", "aborted")
    expect(row.get_by_role("button", name="Abort")).to_have_count(0)
    expect(row.locator(".col-aborted-by")).to_have_text("demo-admin: Wrong supplier file")
    kept = written(row)
    assert 0 < kept < COUNT
    assert kept % 500 == 0  # whole batches only
    assert percentage(row) == 100 * kept // COUNT < 100
    assert stored(database, process_id) == kept
    page.wait_for_timeout(3 * BATCH_PAUSE * 1000)  # no batch is written after it stopped
    assert stored(database, process_id) == kept
    steps.shot("aborted")

    # Abort it again, by its id: the harmless answer, and nothing changes.
    page.fill("#process-id", process_id)
    page.locator("#abort-by-id").get_by_role("button", name="Abort").click()
    expect(notice).to_have_text(re.compile(f"Abort of {process_id} passed on"))
    expect(notice).not_to_have_class(re.compile("error"))
    expect(row).to_have_attribute("data-progress", "aborted")
    assert written(row) == kept == stored(database, process_id)
    steps.shot("aborted-again")

    # A second import runs to its end; aborting it then is refused, and the page says why.
    page.get_by_role("button", name="Start import").click()
    finished = rows.first
    expect(finished).to_have_attribute("data-progress", "succeeded", timeout=30_000)
    finished_id = finished.get_attribute("data-process-id")
    assert finished_id is not None
    assert finished_id != process_id
    assert percentage(finished) == 100
    assert written(finished) == COUNT == stored(database, finished_id)
    page.fill("#process-id", finished_id)
    page.locator("#abort-by-id").get_by_role("button", name="Abort").click()
    expect(notice).to_have_text(f"409: {ImportFinished.message}")
    expect(notice).to_have_class(re.compile("error"))
    expect(finished).to_have_attribute("data-progress", "succeeded")
    steps.shot("finished-409")

    # The README's and the docs' screenshot is this view: still the page's size and shape.
    fresh = tmp_path / "dashboard.png"
    page.screenshot(path=fresh)
    assert png_size(fresh) == png_size(SCREENSHOT)
    if os.environ.get("IMPORT_ABORT_SCREENSHOT"):  # make screenshot: it becomes the docs' one
        shutil.copyfile(fresh, ROOT / os.environ["IMPORT_ABORT_SCREENSHOT"])


def test_the_page_shows_the_apis_message_when_the_token_is_missing_or_wrong(
    server: Server, page: Page
) -> None:
    steps = Steps(page, "token")
    notice = page.locator("#notice")

    page.goto(f"http://{server.host}/")
    expect(notice).to_have_text("401: The user is not authenticated.")
    expect(notice).to_have_class(re.compile("error"))
    page.get_by_role("button", name="Start import").click()
    expect(notice).to_have_text("401: The user is not authenticated.")
    expect(page.locator("#processes tbody tr")).to_have_count(0)
    steps.shot("no-token")

    page.fill("#token", TOKEN)
    page.get_by_role("button", name="Use").click()
    expect(page.locator("#empty")).to_be_visible()
    page.fill("#file-name", "../setup.cfg")
    page.get_by_role("button", name="Start import").click()
    expect(notice).to_have_text("400: No import file is named '../setup.cfg'.")
    expect(page.locator("#processes tbody tr")).to_have_count(0)
    steps.shot("bad-file")


@pytest.fixture
def parallel_server(tmp_path: Path) -> Iterator[Server]:
    env = {
        "DEMO_BEARER_TOKEN": TOKEN,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
        "FLASK_DEMO_BATCH_PAUSE": str(BATCH_PAUSE),
        "FLASK_DEMO_PARALLELISM": "4",
        "FLASK_DEMO_BATCH_SIZE": "100",  # 50 batches a chunk: about 5 s
    }
    with demo(tmp_path / "demo.log", env) as server:
        yield server


def test_a_person_opens_a_parallel_import_sees_a_bar_per_chunk_and_one_abort_stops_them_all(
    parallel_server: Server, page: Page, tmp_path: Path
) -> None:
    steps = Steps(page, "parallel")
    database = f"sqlite:///{tmp_path / 'imports.db'}"
    parent = page.locator("#processes tbody tr[data-process-id]")
    chunks = page.locator("#processes tbody tr.chunk")

    page.goto(f"http://{parallel_server.host}/#token={TOKEN}")
    page.get_by_role("button", name="Start import").click()
    expect(parent).to_have_count(1)
    expect(parent.locator(".percentage")).not_to_have_text("0 %")
    expect(chunks).to_have_count(0)  # closed: the import's bar alone

    parent.get_by_role("button", name="4 chunks").click()
    expect(chunks).to_have_count(4)
    expect(parent.get_by_role("button", name="4 chunks")).to_have_attribute("aria-expanded", "true")
    for index in range(4):
        expect(chunks.nth(index).locator(".col-id")).to_have_text(f"chunk {index + 1} of 4")
        expect(chunks.nth(index).locator(".percentage")).not_to_have_text("0 %")
    steps.shot("chunks-running")

    page.once("dialog", lambda dialog: dialog.accept("Wrong supplier file"))
    parent.get_by_role("button", name="Abort").click()
    expect(parent).to_have_attribute("data-progress", "aborted")
    for index in range(4):
        expect(chunks.nth(index)).to_have_attribute("data-progress", "aborted")
    expect(chunks).to_have_count(4)  # still open after the refreshes
    process_id = parent.get_attribute("data-process-id")
    kept = [written(chunks.nth(index)) for index in range(4)]
    assert all(0 < each < COUNT // 4 for each in kept)
    assert all(each % 100 == 0 for each in kept)  # whole batches only
    assert (
        written(parent)
        == sum(kept)
        == sum(stored(database, f"{process_id}-{index}") for index in range(1, 5))
    )
    steps.shot("chunks-aborted")

    parent.get_by_role("button", name="4 chunks").click()
    expect(chunks).to_have_count(0)


def test_with_its_receiver_on_the_page_lists_the_notice_of_an_aborted_import(
    page: Page, tmp_path: Path
) -> None:
    env = {
        "DEMO_BEARER_TOKEN": TOKEN,
        "FLASK_DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'imports.db'}",
        "FLASK_DEMO_BATCH_PAUSE": str(BATCH_PAUSE),
        "FLASK_DEMO_WEBHOOK_RECEIVER": "true",
        "FLASK_DEMO_REAP_INTERVAL": "0.5",
    }
    with demo(tmp_path / "demo.log", env) as server:
        steps = Steps(page, "webhooks")
        page.goto(f"http://{server.host}/#token={TOKEN}")
        notices = page.locator("#notices tbody tr")
        expect(notices).to_have_count(0)
        page.get_by_role("button", name="Start import").click()
        row = page.locator("#processes tbody tr").first
        expect(row.locator(".percentage")).not_to_have_text("0 %")
        page.once("dialog", lambda dialog: dialog.accept("Wrong supplier file"))
        row.get_by_role("button", name="Abort").click()
        expect(row).to_have_attribute("data-progress", "aborted")

        expect(notices).to_have_count(1, timeout=15_000)
        process_id = row.get_attribute("data-process-id")
        expect(notices.first).to_have_attribute("data-process-id", process_id or "")
        expect(notices.first.locator(".col-state")).to_have_text("aborted")
        expect(notices.first.locator(".col-succeeded")).to_have_text(str(written(row)))
        steps.shot("notice")


def test_a_person_exports_the_products_watches_the_bar_aborts_one_and_downloads_another(
    server: Server, page: Page
) -> None:
    steps = Steps(page, "export")
    notice = page.locator("#notice")
    exports = page.locator("#exports tbody tr")

    page.goto(f"http://{server.host}/#token={TOKEN}")
    expect(page.locator("#no-exports")).to_be_visible()
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#processes tbody tr").first).to_have_attribute(
        "data-progress", "succeeded", timeout=30_000
    )

    # An export of the products the import wrote: its bar moves; an abort stops it.
    page.get_by_role("button", name="Export products").click()
    expect(notice).to_contain_text("Export")
    expect(exports).to_have_count(1)
    row = exports.first
    export_id = row.get_attribute("data-process-id")
    assert export_id is not None
    expect(row.locator(".percentage")).not_to_have_text("0 %")
    expect(row).to_have_attribute("data-progress", "processing")
    steps.shot("exporting")
    page.once("dialog", lambda dialog: dialog.accept("Not today"))
    row.get_by_role("button", name="Abort").click()
    expect(notice).to_contain_text(f"Abort of {export_id} passed on: an export stops")
    expect(row).to_have_attribute("data-progress", "aborted")
    expect(row.locator(".col-aborted-by")).to_have_text("demo-admin: Not today")
    assert 0 < written(row) < COUNT
    expect(row.get_by_role("button", name="Download")).to_have_count(0)
    steps.shot("export-aborted")

    # A second export runs to its end, and its file is downloaded with the page's token.
    page.get_by_role("button", name="Export products").click()
    done = exports.first
    expect(done).to_have_attribute("data-progress", "succeeded", timeout=30_000)
    assert done.get_attribute("data-process-id") != export_id
    assert written(done) == COUNT
    with page.expect_download() as waiting:
        done.get_by_role("button", name="Download").click()
    saved = waiting.value.path()
    assert len(json.loads(Path(saved).read_text())["products"]) == COUNT
    steps.shot("export-downloaded")
