"""errorModel's ``message`` in the caller's language: the catalogs, the choice, the settings."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po
from flask import Flask
from flask_babel import Babel
from werkzeug.exceptions import Forbidden, Unauthorized

from flask_import_abort import ImportAbort, InMemoryImportRegistry, errors
from flask_import_abort.errors import ImportAbortError
from flask_import_abort.languages._catalogs import shipped_locales

from ..helpers import AUTH, SECRET, SpyRegistry, abort_url, assert_error_model, host

ROOT = Path(__file__).parents[2]
#: Each catalog folder: its domain, and the code its messages come from.
CATALOGS = {
    "package": (ROOT / "flask_import_abort" / "languages" / "translations", "flask_import_abort"),
    "example": (ROOT / "example_app" / "translations", "messages"),
}
SOURCES = {"package": ROOT / "flask_import_abort", "example": ROOT / "example_app"}
REQUIRED = {"en", "de", "fr", "es", "it", "pt-BR", "nl", "ja", "zh-Hans"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdrif]|\{\w*\}")


# -- the catalogs ----------------------------------------------------------------------------


def _po_files(kind: str) -> Iterator[tuple[str, Path]]:
    folder, domain = CATALOGS[kind]
    for po_file in sorted(folder.glob(f"*/LC_MESSAGES/{domain}.po")):
        yield po_file.parents[1].name, po_file


def _read(po_file: Path) -> Catalog:
    with po_file.open("rb") as source:
        return read_po(source)


def catalog_problems(catalog: Catalog, template: set[str], locale: str) -> list[str]:
    """What is wrong with one language's catalog against the messages of the code."""
    messages = {message.id: message for message in catalog if message.id}
    problems = [f"missing {msgid!r}" for msgid in sorted(template - set(messages))]
    problems += [f"not in the code {msgid!r}" for msgid in sorted(set(messages) - template)]
    for msgid, message in messages.items():
        if not message.string or message.fuzzy:
            problems.append(f"untranslated {msgid!r}")
            continue
        if sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(message.string)):
            problems.append(f"placeholders differ in {msgid!r}: {message.string!r}")
        if locale != "en" and message.string == msgid:
            problems.append(f"left in English {msgid!r}")
    problems += [f"{message.id!r}: {error}" for message, errs in catalog.check() for error in errs]
    return problems


def _template(kind: str) -> set[str]:
    """The message ids the code marks, extracted as ``make translations`` extracts them."""
    return {
        message
        for _, _, message, *_ in extract_from_dir(str(SOURCES[kind]))
        if isinstance(message, str)
    }


@pytest.mark.parametrize("kind", CATALOGS)
def test_the_template_holds_every_message_the_code_marks(kind: str) -> None:
    folder, domain = CATALOGS[kind]
    with (folder / f"{domain}.pot").open("rb") as source:
        template = {message.id for message in read_po(source) if message.id}

    assert template == _template(kind)
    assert len(template) >= (13 if kind == "package" else 5)


@pytest.mark.parametrize("kind", CATALOGS)
def test_every_language_translates_every_message_keeping_its_placeholders(kind: str) -> None:
    template = _template(kind)
    found = dict(_po_files(kind))

    assert {locale.replace("_", "-") for locale in found} >= REQUIRED
    for locale, po_file in found.items():
        assert catalog_problems(_read(po_file), template, locale) == [], po_file


@pytest.mark.parametrize("kind", CATALOGS)
def test_every_compiled_catalog_is_its_po_file_compiled(kind: str) -> None:
    for _, po_file in _po_files(kind):
        catalog = _read(po_file)
        with po_file.with_suffix(".mo").open("rb") as compiled:
            shipped = read_mo(compiled)

        assert {m.id: m.string for m in shipped if m.id} == {
            m.id: m.string for m in catalog if m.id
        }, f"{po_file.with_suffix('.mo')} is stale: run make translations"


def test_the_check_finds_a_lost_placeholder_an_english_leftover_and_a_gap() -> None:
    template = {"At most %(limit)d imports.", "Try again.", "Gone."}
    catalog = Catalog(locale="de")
    catalog.add("At most %(limit)d imports.", "Höchstens einige Importe.", flags=["python-format"])
    catalog.add("Try again.", "Try again.")

    problems = catalog_problems(catalog, template, "de")

    assert any(problem.startswith("placeholders differ") for problem in problems)
    assert "left in English 'Try again.'" in problems
    assert "missing 'Gone.'" in problems


def test_the_package_ships_its_compiled_catalogs() -> None:
    assert set(shipped_locales()) >= REQUIRED


# -- the choice of language ------------------------------------------------------------------


def _message(client: Any, **headers: str) -> tuple[str, str]:
    response = client.post(abort_url("no_such"), headers={**AUTH, **headers})
    body = assert_error_model(response, 404, "30007")
    return response.headers["Content-Language"], body["message"]


@pytest.fixture
def client() -> Any:
    return host(registry=InMemoryImportRegistry()).test_client()


ENGLISH_404 = "No import process has that token."
GERMAN_404 = "Es gibt keinen Importvorgang mit diesem Token."
JAPANESE_404 = "このトークンに該当するインポート処理はありません。"


@pytest.mark.parametrize(
    ("headers", "language"),
    [
        ({}, "en"),
        ({"Accept-Language": "de"}, "de"),
        ({"Accept-Language": "de-AT"}, "de"),
        ({"Accept-Language": "fr-CA, de;q=0.9"}, "fr"),
        ({"Accept-Language": "sv, de;q=0.3, fr;q=0.2"}, "de"),
        ({"Accept-Language": "fr;q=0.5, ja;q=0.8"}, "ja"),
        ({"Accept-Language": "de;q=0, it"}, "it"),
        ({"Accept-Language": "pt-BR"}, "pt-BR"),
        ({"Accept-Language": "pt"}, "pt-BR"),
        ({"Accept-Language": "pt-PT"}, "pt-BR"),
        ({"Accept-Language": "zh-CN"}, "zh-Hans"),
        ({"Accept-Language": "zh-Hans-SG"}, "zh-Hans"),
        ({"Accept-Language": "zh"}, "zh-Hans"),
        ({"Accept-Language": "zh-TW, nl;q=0.5"}, "nl"),
        ({"Accept-Language": "zh-Hant"}, "en"),
        ({"Accept-Language": "*"}, "en"),
        ({"X-CCAsset-Language": "es"}, "es"),
        ({"X-CCAsset-Language": "pt_BR"}, "pt-BR"),
        ({"X-CCAsset-Language": "zh_CN"}, "zh-Hans"),
        ({"X-CCAsset-Language": "ja", "Accept-Language": "de"}, "ja"),
        ({"X-CCAsset-Language": "sv", "Accept-Language": "de"}, "de"),
    ],
)
def test_the_language_comes_from_occs_header_then_accept_language(
    client: Any, headers: dict[str, str], language: str
) -> None:
    assert _message(client, **headers)[0] == language


def test_the_same_header_answers_the_same_language_every_time(client: Any) -> None:
    answers = {_message(client, **{"Accept-Language": "de-CH, fr;q=0.9"}) for _ in range(5)}

    assert answers == {("de", "Es gibt keinen Importvorgang mit diesem Token.")}


def test_only_message_changes_with_the_language(client: Any) -> None:
    bodies = {}
    for language in ["en", "de", "fr", "es", "it", "pt-BR", "nl", "ja", "zh-Hans"]:
        response = client.post(abort_url("a%20b"), headers={**AUTH, "Accept-Language": language})
        assert response.headers["Content-Language"] == language
        bodies[language] = response.get_json()
    english = bodies.pop("en")

    for language, body in bodies.items():
        assert body["message"] != english["message"], language
        assert {**body, "message": None} == {**english, "message": None}, language
    assert "devMessage" in english


def test_every_error_of_the_catalog_has_a_message_in_every_language() -> None:
    shipped = [errors.ImportAbortError, *errors.ImportAbortError.__subclasses__()]
    app = host(registry=InMemoryImportRegistry())
    for locale in ["de", "ja", "zh-Hans"]:
        with app.test_request_context(headers={"Accept-Language": locale}):
            for error_class in shipped:
                if (
                    error_class.__module__ != errors.__name__
                    or error_class.__name__ == "_ForeignError"
                ):
                    continue
                error = (
                    error_class(retry_after=1)
                    if error_class
                    in (errors.RegistryUnavailable, errors.IdentityProviderUnavailable)
                    else error_class()
                )
                body = json.loads(error.get_response().get_data())
                assert body["message"] != error_class.message, (locale, error_class)


def test_the_default_locale_setting_answers_when_nothing_is_asked() -> None:
    client = host({"IMPORT_ABORT_DEFAULT_LOCALE": "de"}, registry=InMemoryImportRegistry())
    client = client.test_client()

    assert _message(client) == ("de", GERMAN_404)
    assert _message(client, **{"Accept-Language": "tlh"}) == ("de", GERMAN_404)
    assert _message(client, **{"Accept-Language": "en"}) == ("en", ENGLISH_404)


def test_flask_babel_chooses_the_language_when_the_host_uses_it() -> None:
    app = host(registry=InMemoryImportRegistry())
    Babel(app, locale_selector=lambda: "ja_JP")

    assert _message(app.test_client(), **{"Accept-Language": "de"}) == ("ja", JAPANESE_404)


def test_flask_babel_set_up_before_the_plugin_is_followed_too() -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET])
    Babel(app, locale_selector=lambda: "sv")  # no catalog of the plugin's: its default
    ImportAbort(app, registry=InMemoryImportRegistry(), default_locale="fr")

    assert _message(app.test_client(), **{"Accept-Language": "de"})[0] == "fr"


def test_a_failing_flask_babel_selector_falls_back_to_the_default() -> None:
    app = host(registry=InMemoryImportRegistry())
    Babel(app, locale_selector=lambda: "tlh")  # Babel itself refuses a locale it lacks

    assert _message(app.test_client(), **{"Accept-Language": "de"}) == ("en", ENGLISH_404)


# -- the host's catalogs ---------------------------------------------------------------------


def _compile(folder: Path, locale: str, messages: dict[str, str]) -> None:
    catalog = Catalog(locale=locale)
    for msgid, string in messages.items():
        catalog.add(msgid, string, flags=["python-format"] if "%(" in msgid else [])
    target = folder / locale / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as compiled:
        write_mo(compiled, catalog)
    with (target / "messages.po").open("wb") as source:
        write_po(source, catalog)


class QuotaExceeded(ImportAbortError):
    code = 429
    error_code = "99001"
    message = "At most %(limit)d aborts an hour."


def test_a_hosts_catalog_adds_a_language_overrides_a_message_and_localizes_its_errors(
    tmp_path: Path,
) -> None:
    _compile(tmp_path, "sv", {ENGLISH_404: "Ingen importprocess har den token."})
    _compile(
        tmp_path,
        "de",
        {
            ENGLISH_404: "Kein Import mit diesem Token.",
            "At most %(limit)d aborts an hour.": "Höchstens %(limit)d Abbrüche pro Stunde.",
        },
    )
    app = host({"IMPORT_ABORT_TRANSLATIONS": str(tmp_path)}, registry=InMemoryImportRegistry())

    @app.get("/quota")
    def quota() -> Any:
        raise QuotaExceeded(values={"limit": 3})

    client = app.test_client()
    assert _message(client, **{"Accept-Language": "sv"}) == (
        "sv",
        "Ingen importprocess har den token.",
    )
    assert _message(client, **{"Accept-Language": "de"}) == ("de", "Kein Import mit diesem Token.")
    # What the host's German catalog does not hold, the package's does.
    finished = client.post(abort_url(" "), headers={**AUTH, "Accept-Language": "de"})
    assert finished.get_json()["message"] == "Das Token des Importvorgangs ist ungültig."
    german = client.get("/quota", headers={"Accept-Language": "de"})
    assert german.status_code == 429
    assert german.get_json()["message"] == "Höchstens 3 Abbrüche pro Stunde."
    assert german.headers["Vary"] == "Accept-Language, X-CCAsset-Language"
    english = client.get("/quota")
    assert english.get_json()["message"] == "At most 3 aborts an hour."


def test_the_example_apps_own_errors_answer_in_the_callers_language(tmp_path: Path) -> None:
    from example_app import close_app, create_app

    app = create_app(
        {"DEMO_BEARER_TOKEN": SECRET, "DEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'i.db'}"}
    )
    try:
        client = app.test_client()
        answers = {
            language: client.get(
                "/ccadmin/v1/importProcess/no_such",
                headers={**AUTH, "Accept-Language": language},
            )
            for language in ["en", "de", "ja"]
        }
        missing = client.post(
            "/ccadmin/v1/importProcess",
            headers={**AUTH, "Accept-Language": "fr"},
            json={
                "fileName": "none.json",
                "mode": "standalone",
                "id": "Products",
                "format": "json",
            },
        )
    finally:
        close_app(app)

    # getImportProcess is the package's: its 404 is the package's, in the caller's language.
    assert {language: a.get_json()["message"] for language, a in answers.items()} == {
        "en": "No import process has that token.",
        "de": "Es gibt keinen Importvorgang mit diesem Token.",
        "ja": "このトークンに該当するインポート処理はありません。",
    }
    assert {a.get_json()["errorCode"] for a in answers.values()} == {"30007"}
    assert missing.get_json()["message"] == "Aucun fichier d'importation ne s'appelle 'none.json'."


# -- the settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "error", "says"),
    [
        ({"IMPORT_ABORT_DEFAULT_LOCALE": "tlh"}, ValueError, "IMPORT_ABORT_DEFAULT_LOCALE"),
        ({"IMPORT_ABORT_DEFAULT_LOCALE": "<de>"}, ValueError, "IMPORT_ABORT_DEFAULT_LOCALE"),
        ({"IMPORT_ABORT_DEFAULT_LOCALE": None}, TypeError, "IMPORT_ABORT_DEFAULT_LOCALE"),
        ({"IMPORT_ABORT_DEFAULT_LOCALE": ["de"]}, TypeError, "IMPORT_ABORT_DEFAULT_LOCALE"),
        ({"IMPORT_ABORT_TRANSLATIONS": 1}, TypeError, "IMPORT_ABORT_TRANSLATIONS"),
        ({"IMPORT_ABORT_TRANSLATIONS": ""}, TypeError, "IMPORT_ABORT_TRANSLATIONS"),
        ({"IMPORT_ABORT_TRANSLATIONS": "/no/such/folder"}, ValueError, "IMPORT_ABORT_TRANSLATIONS"),
    ],
)
def test_a_wrong_language_setting_fails_at_init_app_naming_its_key(
    config: dict[str, Any], error: type[Exception], says: str
) -> None:
    app = Flask("host")
    app.config.update(IMPORT_ABORT_BEARER_TOKENS=[SECRET], **config)

    with pytest.raises(error, match=says):
        ImportAbort(app, registry=InMemoryImportRegistry())
    assert "import_abort" not in app.extensions


def test_the_default_locale_may_be_any_tag_that_reaches_a_catalog() -> None:
    client = host({"IMPORT_ABORT_DEFAULT_LOCALE": "pt_BR"}, registry=InMemoryImportRegistry())

    assert _message(client.test_client())[0] == "pt-BR"


# -- what the errors of others say -----------------------------------------------------------


def _forbid(request: Any) -> bool:
    raise Forbidden()


def _unauthorized(request: Any) -> bool:
    raise Unauthorized()


def _refuse(request: Any) -> bool:
    return False


def test_a_bare_forbidden_says_the_catalogs_403_in_the_callers_language() -> None:
    app = host(
        {"IMPORT_ABORT_BEARER_TOKENS": [], "IMPORT_ABORT_AUTHORIZE": _forbid},
        registry=SpyRegistry(),
    )
    client = app.test_client()

    english = assert_error_model(client.post(abort_url("t")), 403, "30006")
    german = client.post(abort_url("t"), headers={"Accept-Language": "de"}).get_json()

    assert english["message"] == errors.NotAllowed.message
    assert german["message"] == "Sie sind nicht berechtigt, Importvorgänge abzubrechen."


def test_a_custom_forbidden_keeps_its_own_words() -> None:
    def forbid(request: Any) -> bool:
        raise Forbidden("Only the night shift may abort.")

    app = host(
        {"IMPORT_ABORT_BEARER_TOKENS": [], "IMPORT_ABORT_AUTHORIZE": forbid}, registry=SpyRegistry()
    )

    body = assert_error_model(app.test_client().post(abort_url("t")), 403, "30006")
    assert body["message"] == "Only the night shift may abort."


def test_an_authorizers_unauthorized_carries_a_challenge() -> None:
    app = host(
        {"IMPORT_ABORT_BEARER_TOKENS": [], "IMPORT_ABORT_AUTHORIZE": _unauthorized},
        registry=SpyRegistry(),
    )

    response = app.test_client().post(abort_url("t"))

    assert_error_model(response, 401, "00001000")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_with_only_an_authorizer_the_401_does_not_ask_for_a_bearer_token() -> None:
    only_authorizer = host(
        {"IMPORT_ABORT_BEARER_TOKENS": [], "IMPORT_ABORT_AUTHORIZE": _refuse},
        registry=SpyRegistry(),
    )
    with_tokens = host({"IMPORT_ABORT_AUTHORIZE": _refuse}, registry=SpyRegistry())

    refused = only_authorizer.test_client().post(abort_url("t"))
    asked = with_tokens.test_client().post(abort_url("t"))

    assert "Bearer" not in assert_error_model(refused, 401)["moreInfo"]
    assert "Bearer" in assert_error_model(asked, 401)["moreInfo"]
    assert refused.headers["WWW-Authenticate"] == "Bearer"


# -- the bytes of an answer ------------------------------------------------------------------


def test_a_localized_body_is_utf8_and_a_lone_surrogate_stays_valid_json(client: Any) -> None:
    response = client.post(abort_url("no_such"), headers={**AUTH, "Accept-Language": "ja"})
    assert response.headers["Content-Type"] == "application/json"
    assert JAPANESE_404.encode() in response.get_data()

    error = ImportAbortError("bad \udc80 byte")
    body = error.body()
    assert json.loads(body)["message"] == "bad \udc80 byte"
    assert json.load(BytesIO(body))["status"] == "500"


def test_post_answers_name_no_vary_and_get_answers_do(client: Any) -> None:
    post = client.post(abort_url("no_such"), headers=AUTH)
    get = client.get(abort_url("no_such"), headers=AUTH)

    assert "Vary" not in post.headers
    assert get.headers["Vary"] == "Accept-Language, X-CCAsset-Language"
    assert get.headers["Content-Language"] == "en"


@pytest.mark.parametrize(
    "broken",
    ["Höchstens %(limite)d Abbrüche pro Stunde.", "Höchstens 100% der Abbrüche.", "%(limit)s %d"],
    ids=["a renamed placeholder", "a bare percent sign", "a positional placeholder"],
)
def test_a_host_translation_whose_placeholders_do_not_fit_gives_way_to_the_source_once(
    tmp_path: Path, broken: str, caplog: pytest.LogCaptureFixture
) -> None:
    _compile(tmp_path, "de", {"At most %(limit)d aborts an hour.": broken})
    app = host({"IMPORT_ABORT_TRANSLATIONS": str(tmp_path)}, registry=InMemoryImportRegistry())

    @app.get("/quota")
    def quota() -> Any:
        raise QuotaExceeded(values={"limit": 3})

    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="flask_import_abort"):
        answers = [client.get("/quota", headers={"Accept-Language": "de"}) for _ in range(3)]

    for answer in answers:
        assert answer.status_code == 429
        assert answer.get_json()["message"] == "At most 3 aborts an hour."
    assert len([r for r in caplog.records if "does not take its values" in r.getMessage()]) == 1
