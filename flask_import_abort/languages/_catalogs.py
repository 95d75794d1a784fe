"""Internal: the language of an error answer, and its ``message`` in that language.

The package's messages are gettext catalogs in ``translations/<locale>/LC_MESSAGES``, compiled
from their ``.po`` sources (``make translations``). A host adds or overrides languages with a
folder of its own, laid out as Babel lays one out, domain ``messages``.
"""

from __future__ import annotations

import gettext
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from .._config import DEFAULT_LOCALE

__all__ = ["N_", "Catalog", "Localizer", "localizer_of"]

#: The package's gettext domain, and the one a host's catalog folder holds.
log = logging.getLogger("flask_import_abort")

DOMAIN = "flask_import_abort"
HOST_DOMAIN = "messages"
PACKAGE_CATALOGS = Path(__file__).with_name("translations")
#: Where an app keeps its localizer: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "import_abort.i18n"

#: Headers longer than these are no one's real preference; they fall back to the default.
ACCEPT_LANGUAGE_MAX_LENGTH = 1024
LANGUAGE_TAG_MAX_LENGTH = 64
#: How many distinct headers' answers are kept, at most.
NEGOTIATIONS_KEPT = 1024
#: A language tag as RFC 5646 spells one, with ``_`` allowed for OCC's ``pt_BR``.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")
#: Tags that mean a shipped locale without naming it: Portuguese reads the Brazilian catalog,
#: Chinese of mainland China and Singapore the Simplified one.
ALIASES = {"pt": "pt-br", "zh": "zh-hans", "zh-cn": "zh-hans", "zh-sg": "zh-hans"}
#: Chinese that is written in Traditional characters: the Simplified catalog is not for it.
_TRADITIONAL = frozenset({"hant", "tw", "hk", "mo"})


def N_(message: str) -> str:  # noqa: N802 (gettext's name for a marker)
    """Mark ``message`` for the catalog; it is translated when an answer is made."""
    return message


class Catalog:
    """One language's messages: its tag, as ``Content-Language`` carries it, and gettext's
    translations (a host's first, when it has them, then the package's)."""

    __slots__ = ("misfits", "tag", "translations")

    def __init__(self, tag: str, translations: gettext.NullTranslations) -> None:
        self.tag = tag
        self.translations = translations
        #: The messages whose translation was found not to take its values: each said once.
        self.misfits: set[str] = set()

    def message(self, message: str, values: Mapping[str, Any] | None = None) -> str:
        """``message`` in this language, its ``%(name)s`` placeholders filled from ``values``.

        A translation whose placeholders do not fit (one renamed, ``%(limite)d``, or a bare
        ``%``) gives way to the source message, and one WARNING line says which, once: a
        catalog's typo never turns an error answer into a 500."""
        translated = self.translations.gettext(message)
        if not values:
            return translated
        try:
            return translated % values
        except (KeyError, ValueError, TypeError) as error:
            if translated == message:
                raise
            if message not in self.misfits:
                self.misfits.add(message)
                log.warning(
                    "flask-import-abort: the %s translation of %r does not take its values "
                    "(%s: %s); the source message is used",
                    self.tag,
                    message,
                    type(error).__name__,
                    error,
                )
            return message % values

    def __repr__(self) -> str:
        return f"<Catalog {self.tag}>"


#: The English of the package itself: used where no app is set up to choose.
ENGLISH = Catalog(DEFAULT_LOCALE, gettext.NullTranslations())


def _catalog_files(folder: Path, domain: str) -> Iterator[tuple[str, Path]]:
    """The compiled catalogs in a Babel-style folder, by their locale's tag (``pt-BR``)."""
    for mo_file in sorted(folder.glob(f"*/LC_MESSAGES/{domain}.mo")):
        yield mo_file.parents[1].name.replace("_", "-"), mo_file


def _read(mo_file: Path) -> gettext.GNUTranslations:
    with mo_file.open("rb") as compiled:
        return gettext.GNUTranslations(compiled)


def shipped_locales() -> list[str]:
    """The tags of the languages the package ships."""
    return [tag for tag, _ in _catalog_files(PACKAGE_CATALOGS, DOMAIN)]


class Localizer:
    """Picks the language of each error answer of one app.

    From OCC's ``X-CCAsset-Language`` header, then ``Accept-Language`` (by q-value), then the
    default; when the app uses Flask-Babel, from its locale selector instead. A header that is
    malformed, too long or names no known language is passed over, never an error.
    """

    def __init__(
        self,
        default: str = DEFAULT_LOCALE,
        host_folder: Path | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        #: The app's extensions, where Flask-Babel shows itself (it may be set up later).
        self._extensions: Mapping[str, Any] = {} if extensions is None else extensions
        catalogs: dict[str, Catalog] = {}
        for tag, mo_file in _catalog_files(PACKAGE_CATALOGS, DOMAIN):
            catalogs[tag.lower()] = Catalog(tag, _read(mo_file))
        if host_folder is not None:
            for tag, mo_file in _catalog_files(host_folder, HOST_DOMAIN):
                translations = _read(mo_file)
                shipped = catalogs.get(tag.lower())
                if shipped is not None:
                    translations.add_fallback(shipped.translations)
                catalogs[tag.lower()] = Catalog(tag, translations)
        self.catalogs = catalogs
        found = self.match(default)
        if found is None:
            raise ValueError(
                f"no catalog for the language {default!r}; there are: "
                + ", ".join(sorted(catalog.tag for catalog in catalogs.values()))
            )
        self.default = found
        # Clients send the same few headers over and over: each pair is worked out once.
        self._chosen: dict[tuple[str | None, str | None], Catalog] = {}

    def match(self, tag: str) -> Catalog | None:
        """The catalog for a language tag (``de-AT`` reads ``de``), or None."""
        if len(tag) > LANGUAGE_TAG_MAX_LENGTH or not LANGUAGE_TAG.fullmatch(tag):
            return None
        subtags = tag.replace("_", "-").lower().split("-")
        # Traditional Chinese reads only a catalog of its own, never the Simplified one.
        aliased = not (
            subtags[0] == "zh" and "hans" not in subtags and _TRADITIONAL.intersection(subtags)
        )
        while subtags:
            key = "-".join(subtags)
            found = self.catalogs.get(key)
            if found is None and aliased and key in ALIASES:
                found = self.catalogs.get(ALIASES[key])
            if found is not None:
                return found
            subtags.pop()
        return None

    def choose(self, environ: Mapping[str, Any]) -> Catalog:
        """The catalog of a request's answer, from its WSGI environ."""
        if "babel" in self._extensions:
            return self._from_flask_babel()
        asset = environ.get("HTTP_X_CCASSET_LANGUAGE")
        accept = environ.get("HTTP_ACCEPT_LANGUAGE")
        if asset is None and accept is None:
            return self.default
        found = self._chosen.get((asset, accept))
        if found is None:
            if len(self._chosen) >= NEGOTIATIONS_KEPT:
                self._chosen.clear()
            found = self._chosen[asset, accept] = self._negotiate(asset, accept)
        return found

    def _negotiate(self, asset: str | None, accept: str | None) -> Catalog:
        if asset is not None:
            found = self.match(asset.strip())
            if found is not None:
                return found
        if accept is not None and len(accept) <= ACCEPT_LANGUAGE_MAX_LENGTH:
            for tag, quality in parse_accept_header(accept, LanguageAccept):
                if quality <= 0 or tag == "*":
                    continue
                found = self.match(tag)
                if found is not None:
                    return found
        return self.default

    def _from_flask_babel(self) -> Catalog:
        """The language Flask-Babel's locale selector picks; the default when it picks one
        without a catalog, or fails (an error answer never fails on its language)."""
        from flask_babel import get_locale

        try:
            locale = get_locale()
        except Exception:
            return self.default
        found = None if locale is None else self.match(str(locale))
        return self.default if found is None else found


def localizer_of(extensions: Mapping[str, Any]) -> Localizer | None:
    """The localizer kept in an app's ``extensions``, if the plugin is set up on it."""
    found: Localizer | None = extensions.get(EXTENSION_KEY)
    return found
