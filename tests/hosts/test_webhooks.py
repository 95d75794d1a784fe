"""A receiver written from OCC's documented example of its Import Complete webhook takes the
package's notices, of a standalone import and of a bundle, signed, delivered by the host's own
``flask import-abort deliver``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .running import TOKEN, host, port, wait_for

pytestmark = pytest.mark.slow  # real servers and commands in processes of their own


def test_a_receiver_written_for_occ_reads_every_notice(tmp_path: Path) -> None:
    web = port()
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "IMPORT_ADMIN_TOKEN": TOKEN,
        "WEBHOOK_URL": f"http://127.0.0.1:{web}/hooks/imports",
        "WEBHOOK_SECRET": "the secret both sides know",
    }
    with host("webhooks", tmp_path, env) as shop:
        erp = shop.serve(
            "receiver", "flask", "--app", "receiver", "run", "--port", str(web), port=web
        )
        standalone = shop.run("flask", "--app", "shop", "import-products", "a.json", "250")
        bundle = shop.run(
            "flask", "--app", "shop", "import-products", "b.json", "120", "--mode", "bundle"
        )
        said = shop.run("flask", "--app", "shop", "import-abort", "deliver").stdout
        expected = {
            standalone.stdout.split()[-1]: {"Products": 250},
            bundle.stdout.split()[-1]: {"b.json": 120},
        }
        taken = wait_for(lambda: erp.get("/hooks/imports").json() or None, "the notices", 10)
        assert taken == expected, said
        assert "Traceback" not in shop.log("receiver")
