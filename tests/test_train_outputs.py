"""``python -m model.train`` writes its folder deterministically: the same weights rewrite nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model import load_model
from model.train import save
from model.translator import ASSETS

ROOT = Path(__file__).resolve().parent.parent
RECORD = {"seed": 0, "steps": 1200, "threads": 1, "train_seconds": 1.5, "torch": torch.__version__}


def test_the_same_weights_leave_the_tracked_files_as_they_are(tmp_path):
    net = load_model("translator").net
    folder = tmp_path / "translator"
    shutil.copytree(ASSETS, folder)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert save(net, folder, RECORD) is False
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert after == before  # bytes and modification times: nothing was rewritten
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {p.name: p.read_bytes() for p in ASSETS.iterdir()}


def test_new_weights_are_written_with_their_training_record(tmp_path):
    net = load_model("translator").net
    folder = tmp_path / "translator"
    shutil.copytree(ASSETS, folder)
    changed = {k: v.clone() for k, v in net.state_dict().items()}
    first = next(iter(changed))
    changed[first] += 1.0
    net_b = type(net)(net.cfg)
    net_b.load_state_dict(changed)
    assert save(net_b, folder, RECORD) is True
    assert (folder / "model.safetensors").read_bytes() != (ASSETS / "model.safetensors").read_bytes()
    assert json.loads((folder / "config.json").read_text(encoding="utf-8"))["training"] == RECORD
    assert save(net_b, folder, {**RECORD, "train_seconds": 9.0}) is False  # a rerun with the same result
    assert json.loads((folder / "config.json").read_text(encoding="utf-8"))["training"] == RECORD


@pytest.mark.slow
def test_a_rerun_of_the_command_rewrites_nothing(tmp_path):
    """Seeded, one thread: the second run trains the same weights and leaves the folder as the first wrote it."""
    def run() -> str:
        res = subprocess.run([sys.executable, "-m", "model.train", "--steps", "20", "--out", str(tmp_path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        return res.stdout

    assert f"wrote {tmp_path}" in run()
    first = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert sorted(first) == ["config.json", "model.safetensors", "source_tokenizer.json", "target_tokenizer.json"]
    assert "left it as it was" in run()
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()} == first
