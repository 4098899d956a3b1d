"""File names for everything the dashboard and the command line write.

``file_name`` is the one rule: a model name may be a local checkpoint path
("/srv/models/my model", "../x"), unicode, very long or empty, and the stem it
gives is still one safe file name: no slashes, no leading dot, no control
characters, no spaces, at most ``MAX_STEM`` characters.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_STEM = 120
FALLBACK = "model"
_UNSAFE = re.compile(r"[^\w.+=-]+")  # \w is unicode-aware: letters and digits of any script stay


def _clean(part: str) -> str:
    text = unicodedata.normalize("NFC", str(part))
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)  # controls, separators
    text = _UNSAFE.sub("-", text.replace("/", "-").replace("\\", "-"))
    text = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", text))
    return text.strip("-._")


def file_name(model_name: str | None, *parts: object) -> str:
    """``minilm_L2_H5_encoder``: a safe file stem (no extension) for ``model_name`` and what the file holds.

    ``parts`` that are None or empty are left out; a path keeps its last folder names
    (``/srv/models/my model`` -> ``models-my-model``). A stem longer than ``MAX_STEM``
    is cut and ends in a short hash of the whole, so two long names stay apart.
    """
    model = str(model_name or "").rstrip("/\\")
    model = "-".join(p for p in re.split(r"[/\\]+", model) if p not in ("", ".", ".."))[-60:]
    cleaned = [_clean(model) or FALLBACK] + [c for p in parts if p is not None and (c := _clean(str(p)))]
    stem = "_".join(cleaned)
    if len(stem) > MAX_STEM:
        digest = hashlib.sha1(stem.encode("utf-8")).hexdigest()[:8]
        stem = stem[:MAX_STEM - 9].rstrip("-._") + "_" + digest
    return stem or FALLBACK
