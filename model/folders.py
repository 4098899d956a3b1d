"""Which local checkpoint folders a served dashboard may open.

A visitor types a folder path into the page; the server must not become a way to
map its own file system. Folders are accepted only inside roots that the person
running the server allows, after every symlink is resolved, and every refused path
gets the same answer, whether it is missing, a file, unreadable or outside the roots.
``~`` is never expanded. The Python API (``load_model(path)``) is not restricted:
this is the server's policy, applied before ``load_model`` sees the path.

The roots come from the environment variable ``ATTENTION_DASHBOARD_MODEL_ROOTS``
(paths separated by ``os.pathsep``; empty turns local folders off). Unset, they are
the working folder and the Hugging Face hub cache when the server listens on
localhost only, and none when it listens beyond it.
"""

from __future__ import annotations

import os
from pathlib import Path

from i18n import N_, _
from model.errors import ModelLoadError

ROOTS_ENV = "ATTENTION_DASHBOARD_MODEL_ROOTS"
LOCAL_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_PATH_CHARS = 1024
# The roots themselves are not named: a working folder's path can name an account.
REFUSED = N_("No checkpoint folder by that name is available on this server. Local folders must lie inside "
             "the folders that whoever runs the server allows.")
OFF_MESSAGE = N_("Local checkpoint folders are turned off on this server. Whoever runs it can allow folders with "
                 "the environment variable {env}.")
OFF = OFF_MESSAGE.format(env=ROOTS_ENV)  # in English


def default_roots() -> list[Path]:
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    return [Path.cwd(), Path(hub)]


def allowed_roots(server_address: str | None) -> list[Path]:
    """The roots in force, resolved: from the environment, else the defaults for a localhost-only server."""
    configured = os.environ.get(ROOTS_ENV)
    if configured is not None:
        raw = [Path(p) for p in configured.split(os.pathsep) if p.strip()]
    elif (server_address or "").strip().lower() in LOCAL_ADDRESSES:
        raw = default_roots()
    else:
        raw = []
    roots = []
    for root in raw:
        try:
            roots.append(Path(os.path.realpath(root)))
        except (OSError, ValueError):
            continue
    return roots


def resolve_checkpoint(text: str, roots: list[Path]) -> Path:
    """The real folder ``text`` names, if it is a readable folder inside one of ``roots``.

    Relative paths are read from the working folder. Anything else raises ``ModelLoadError`` with
    one message that tells nothing about what is or is not on the server.
    """
    if not roots:
        raise ModelLoadError(_(OFF_MESSAGE).format(env=ROOTS_ENV))
    refused = ModelLoadError(_(REFUSED))
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_PATH_CHARS or "\x00" in text:
        raise refused
    try:
        real = Path(os.path.realpath(text.strip()))  # every symlink resolved: a link out of a root is outside
        inside = any(real == root or real.is_relative_to(root) for root in roots)
        if not inside or not real.is_dir() or not os.access(real, os.R_OK | os.X_OK):
            raise refused
    except (OSError, ValueError):
        raise refused from None
    return real
