"""Internal: the languages' keys read and checked, into the app's localizer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._config import Config
from . import _catalogs as i18n


def read_localizer(setting: Mapping[str, Any], extensions: Mapping[str, Any]) -> i18n.Localizer:
    """The app's languages: the package's catalogs, the host's folder over them, its default."""
    default = setting[Config.DEFAULT_LOCALE.name]
    if not isinstance(default, str):
        raise TypeError(
            f"{Config.DEFAULT_LOCALE.name} is a language tag such as 'en' or 'pt-BR'; "
            f"got {type(default).__name__}."
        )
    folder = setting[Config.TRANSLATIONS.name]
    if folder is not None:
        if not isinstance(folder, str | os.PathLike) or not str(folder).strip():
            raise TypeError(
                f"{Config.TRANSLATIONS.name} is the path of a folder of gettext catalogs; "
                f"got {folder!r}."
            )
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{Config.TRANSLATIONS.name} = {str(folder)!r} is not a folder.")
    try:
        return i18n.Localizer(default, folder, extensions)
    except ValueError as error:
        raise ValueError(f"{Config.DEFAULT_LOCALE.name} = {default!r}: {error}") from None
