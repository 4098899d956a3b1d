"""The interface's languages: English (as the code is written) and Chinese, from gettext catalogues.

Every string a person reads goes through ``_`` (``from i18n import _``): a label, a notice, an
error message, a figure's axis title, a "What am I looking at?" text. Its translation comes
from the standard gettext catalogues in ``i18n/locale/<language>/LC_MESSAGES/*.po`` (one per part
of the app, so each is small enough to review), compiled in memory with Babel the first time a
language is used. A message without a translation is shown as written, in English.

The language is per browser session: the dashboard sets it at the start of each run with
``set_language``, in a context variable, so two sessions on one server read their own.
Caches whose values hold text (a capture's notice) take the language as part of their key.

To add or change messages: ``pybabel extract -F i18n/babel.cfg -o i18n/messages.pot .``, then
``pybabel update -i i18n/messages.pot -d i18n/locale -D <catalogue>`` and translate the new entries.
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = {"en": "English", "zh": "中文"}
DEFAULT = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_language: ContextVar[str] = ContextVar("language", default=DEFAULT)


@cache
def catalogue(language: str) -> gettext.NullTranslations:
    """Every catalogue of ``language`` chained into one (English: none, messages as written)."""
    chain: gettext.NullTranslations = gettext.NullTranslations()
    for path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as f:
            messages = read_po(f, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, messages)
        compiled.seek(0)
        translations = gettext.GNUTranslations(compiled)
        if isinstance(chain, gettext.GNUTranslations):
            chain.add_fallback(translations)
        else:
            chain = translations
    return chain


def set_language(language: str) -> None:
    """The language of what this thread (one browser session's run) shows from now on."""
    _language.set(language if language in LANGUAGES else DEFAULT)


def language() -> str:
    return _language.get()


def _(message: str) -> str:
    """``message`` in the current language (as written when it has no translation there)."""
    if not message:
        return message
    return catalogue(_language.get()).gettext(message)


def N_(message: str) -> str:  # noqa: N802 - the name gettext tools look for
    """Marks a message for the catalogue where it is defined (a module-level table); ``_`` translates it
    where it is shown."""
    return message
