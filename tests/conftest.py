"""Shared fixtures: the pretrained MiniLM is loaded once per test session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from model import load_model
from model.folders import ROOTS_ENV
from tests.live_server import CHROMIUM, ROOT, chromium, serve_dashboard


@pytest.fixture(scope="session")
def minilm():
    return load_model("minilm")


# --- A running dashboard and a real Chromium, for the browser tests -------------------------

ARTIFACTS = ROOT / "tests" / "artifacts"


@dataclass(frozen=True)
class Server:
    url: str
    pid: int  # the streamlit process itself, e.g. to read its memory from /proc/<pid>/status


@pytest.fixture(scope="session")
def dashboard_url(dashboard_server):
    return dashboard_server.url


@pytest.fixture(scope="session")
def checkpoint_root(tmp_path_factory) -> Path:
    """The one folder the browser tests' server allows local checkpoints from."""
    return tmp_path_factory.mktemp("allowed-checkpoints")


@pytest.fixture(scope="session")
def dashboard_server(checkpoint_root):
    """``streamlit run dashboard.py`` on a free localhost port, up until the session ends."""
    with serve_dashboard(env={ROOTS_ENV: str(checkpoint_root)}) as (url, proc):
        yield Server(url=url, pid=proc.pid)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is needed for the browser tests: apt-get install -y chromium ({CHROMIUM})")
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, dashboard_url):
    """A fresh browser context on the dashboard, 1400 x 1000."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.goto(dashboard_url)
    yield pg
    context.close()


def screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
