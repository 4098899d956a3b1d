"""What an anonymous visitor can make the served dashboard read, in a real Chromium.

The server allows local checkpoints from one folder only (``checkpoint_root``); every
path outside it gets the same message, a sharded pickle and a 10^4-layer config are
refused, and the server's memory does not move.
"""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from tests.conftest import screenshot
from tests.test_hf_models import build

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 120_000
ALERT = "[data-testid='stAlertContentError']"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return int(next(x for x in f if x.startswith("VmRSS:")).split()[1]) / 1024


def open_folder(page, folder: str) -> str:
    """Type ``folder`` as a local checkpoint; the error message the page then shows."""
    page.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT)
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option", name="Local checkpoint folder").click()
    box = page.get_by_label("Checkpoint folder", exact=True)
    box.fill(folder)
    box.press("Enter")
    page.wait_for_selector(ALERT, timeout=TIMEOUT)
    return page.locator(ALERT).first.text_content()


@pytest.mark.parametrize("name", ["root", "missing", "passwd", "tilde"])
def test_paths_outside_the_roots_get_one_message(page, checkpoint_root, name):
    folder = {"root": "/root", "missing": str(checkpoint_root / "no-such-folder"), "passwd": "/etc/passwd",
              "tilde": "~"}[name]
    message = open_folder(page, folder)
    assert message.startswith("The model could not be loaded: No checkpoint folder by that name is available")
    assert "passwd" not in message and "/root" not in message and "no-such-folder" not in message
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot(page, f"serving_refused_{name}")


def test_a_sharded_pickle_is_refused(page, checkpoint_root):
    folder = build("gpt2", checkpoint_root / "sharded-pickle")
    torch.save(transformers.GPT2Model.from_pretrained(str(folder)).state_dict(), folder / "weights.bin")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"wte.weight": "weights.bin", "wpe.weight": "weights.bin"}}))
    assert "not safetensors" in open_folder(page, str(folder))


def test_a_huge_config_is_refused_without_memory(page, checkpoint_root, dashboard_server):
    folder = build("gpt2", checkpoint_root / "ten-thousand-layers")
    config = json.loads((folder / "config.json").read_text())
    config.update(n_layer=10_000, n_embd=768)
    (folder / "config.json").write_text(json.dumps(config))
    page.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT)
    before = rss_mb(dashboard_server.pid)
    message = open_folder(page, str(folder))
    assert "would need about" in message and "GiB" in message
    assert rss_mb(dashboard_server.pid) - before < 100
    screenshot(page, "serving_huge_config")
