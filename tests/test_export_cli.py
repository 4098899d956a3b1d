"""``python -m export``: the files it names are written; bad arguments exit non-zero with a message."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from export import data as data_export
from export.cli import main
from model import capture
from tests.test_export import png_size

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "The cat sat on the mat."


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command exactly as a user types it, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "export", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def written(out: str) -> list[Path]:
    return [Path(line) for line in out.splitlines() if line.strip()]


@pytest.mark.browser
def test_the_readme_command_writes_the_png_it_names(tmp_path):
    res = run_cli(SENTENCE, "--model", "minilm", "--layer", "2", "--head", "5", "--format", "png",
                  "--out", str(tmp_path), "--width", "700", "--height", "600", "--scale", "2")
    assert res.returncode == 0, res.stderr
    assert written(res.stdout) == [tmp_path / "minilm_L2_H5_encoder.png"]
    assert png_size((tmp_path / "minilm_L2_H5_encoder.png").read_bytes()) == (1400, 1200)


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "no-such-model"], "unknown or unreadable model 'no-such-model'"),
    (["--layer", "6"], "layer 6 is out of range: minilm has layers 0 to 5"),
    (["--head", "12"], "head 12 is out of range: minilm has heads 0 to 11"),
    (["--layer", "-1"], "--layer must be 0 or more"),
    (["--scale", "0"], "--scale must be positive"),
])
def test_bad_arguments_exit_non_zero_with_a_message(tmp_path, args, message):
    res = run_cli(SENTENCE, "--format", "html", "--out", str(tmp_path), *args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.iterdir()), "nothing is written on a bad argument"


@pytest.mark.parametrize("args", [["   "], [], ["--input", "EMPTY"]])
def test_empty_input_exits_non_zero_with_a_message(tmp_path, args):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    args = [str(empty) if a == "EMPTY" else a for a in args]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--format", "html", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert not (tmp_path / "out").exists()


def test_empty_input_message(tmp_path):
    res = run_cli("", "--out", str(tmp_path))
    assert res.returncode == 2
    assert "the input is empty" in res.stderr


@pytest.mark.browser
def test_input_file_one_sentence_per_line(tmp_path, capsys):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("The cat sat on the mat.\n\nthe dog barked\n", encoding="utf-8")
    assert main(["--input", str(sentences), "--layer", "1", "--head", "3", "--format", "svg",
                 "--out", str(tmp_path / "out"), "--width", "500", "--height", "400"]) == 0
    paths = written(capsys.readouterr().out)
    assert [p.name for p in paths] == ["s1_minilm_L1_H3_encoder.svg", "s2_minilm_L1_H3_encoder.svg"]
    texts = [{t.text for t in ET.parse(p).getroot().iter() if t.tag.endswith("text")} for p in paths]
    assert "cat" in texts[0] and "dog" not in texts[0]
    assert "dog" in texts[1] and "barked" in texts[1]


@pytest.mark.browser
def test_all_heads_of_a_layer(tmp_path, capsys):
    assert main([SENTENCE, "--all-heads", "--layer", "4", "--format", "pdf", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"minilm_L4_H{h}_encoder.pdf" for h in range(12))
    assert all((tmp_path / n).read_bytes().startswith(b"%PDF") for n in names)
    assert len(written(capsys.readouterr().out)) == 12


def test_data_formats_round_trip(tmp_path, minilm, capsys):
    cap = capture(minilm, SENTENCE)
    for fmt in ("npz", "json", "csv"):
        assert main([SENTENCE, "--format", fmt, "--layer", "2", "--head", "5", "--out", str(tmp_path)]) == 0
    out = written(capsys.readouterr().out)
    assert [p.name for p in out] == ["minilm_capture.npz", "minilm_capture.json", "minilm_L2_H5_encoder.csv"]
    back = data_export.load_npz(str(out[0]))
    np.testing.assert_array_equal(back.attentions["encoder"], cap.attentions["encoder"])
    df = pd.read_csv(out[2])
    n = len(cap.tokens)
    np.testing.assert_allclose(df["weight"].to_numpy().reshape(n, n), cap.attentions["encoder"][2, 5], atol=1e-7)
    assert io.BytesIO(out[1].read_bytes()).read(1) == b"{"


@pytest.mark.browser
def test_grid_view_is_one_image(tmp_path, capsys):
    assert main([SENTENCE, "--view", "grid", "--format", "png", "--scale", "1", "--width", "900",
                 "--height", "600", "--out", str(tmp_path)]) == 0
    (path,) = written(capsys.readouterr().out)
    assert path.name == "minilm_grid_encoder.png"
    assert png_size(path.read_bytes()) == (900, 600)


def test_no_chromium_images_fail_clearly_but_html_still_works(tmp_path):
    env = {**os.environ, "CHROMIUM_PATH": str(tmp_path / "no-chromium")}
    res = run_cli(SENTENCE, "--format", "png", "--out", str(tmp_path / "png"), env=env)
    assert res.returncode == 1
    assert "apt-get install -y chromium" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "png").exists()
    res = run_cli(SENTENCE, "--format", "html", "--layer", "2", "--head", "5", "--out", str(tmp_path / "html"),
                  env=env)
    assert res.returncode == 0, res.stderr
    html = (tmp_path / "html" / "minilm_L2_H5_encoder.html").read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html and "head 5" in html


@pytest.mark.browser
def test_positions_view_draws_the_positional_vectors(tmp_path, capsys):
    assert main([SENTENCE, "--view", "positions", "--format", "svg", "--width", "800", "--height", "500",
                 "--out", str(tmp_path)]) == 0
    (path,) = written(capsys.readouterr().out)
    assert path.name == "minilm_positions.svg"
    root = ET.parse(path).getroot()
    assert float(root.get("width")) == 800
    assert {"[CLS]", "cat", "[SEP]"} <= {t.text for t in root.iter() if t.tag.endswith("text")}


@pytest.mark.browser
def test_all_heads_as_one_zip(tmp_path, capsys):
    import zipfile

    assert main([SENTENCE, "--all-heads", "--layer", "3", "--zip", "--format", "svg", "--out", str(tmp_path)]) == 0
    (path,) = written(capsys.readouterr().out)
    assert path.name == "minilm_L3_heads_encoder_svg.zip"
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(f"minilm_L3_H{h}_encoder.svg" for h in range(12))
        assert ET.fromstring(zf.read("minilm_L3_H7_encoder.svg")).tag.endswith("svg")


def test_zip_without_all_heads_is_refused(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([SENTENCE, "--zip", "--out", str(tmp_path)])
    assert exc.value.code == 2


def test_csv_without_layer_or_head_holds_every_head_as_the_page_does(tmp_path, minilm, capsys):
    cap = capture(minilm, SENTENCE)
    n = len(cap.tokens)
    assert main([SENTENCE, "--format", "csv", "--out", str(tmp_path)]) == 0
    (path,) = written(capsys.readouterr().out)
    assert path.name == "minilm_attention.csv"
    assert path.read_bytes() == data_export.csv_bytes(cap)  # the Export view's CSV, byte for byte
    df = pd.read_csv(path)
    assert len(df) == 6 * 12 * n * n
    np.testing.assert_allclose(df["weight"].to_numpy().reshape(6, 12, n, n), cap.attentions["encoder"], atol=1e-7)


@pytest.mark.parametrize(("args", "name", "layers", "heads"), [
    (["--layer", "2"], "minilm_L2_encoder.csv", [2], list(range(12))),
    (["--head", "5"], "minilm_H5_encoder.csv", list(range(6)), [5]),
    (["--layer", "2", "--head", "5"], "minilm_L2_H5_encoder.csv", [2], [5]),
    (["--kind", "encoder"], "minilm_encoder.csv", list(range(6)), list(range(12))),
])
def test_csv_layer_and_head_filter(tmp_path, minilm, capsys, args, name, layers, heads):
    cap = capture(minilm, SENTENCE)
    n = len(cap.tokens)
    assert main([SENTENCE, "--format", "csv", *args, "--out", str(tmp_path)]) == 0
    (path,) = written(capsys.readouterr().out)
    assert path.name == name
    df = pd.read_csv(path)
    assert sorted(set(df["layer"])) == layers and sorted(set(df["head"])) == heads
    assert len(df) == len(layers) * len(heads) * n * n
    want = cap.attentions["encoder"][np.ix_(layers, heads)]
    np.testing.assert_allclose(df["weight"].to_numpy().reshape(want.shape), want, atol=1e-7)


def test_what_an_export_writes_is_ignored_by_git(tmp_path, capsys):
    """The README's --out folders and the default (the folder it runs in) leave `git status` clean."""
    for fmt in ("html", "csv", "npz", "json"):
        assert main([SENTENCE, "--format", fmt, "--out", str(tmp_path)]) == 0
    assert main([SENTENCE, "--all-heads", "--layer", "1", "--zip", "--format", "html", "--out", str(tmp_path)]) == 0
    names = [p.name for p in written(capsys.readouterr().out)]
    names += ["minilm_L2_H5_encoder.png", "minilm_L2_H5_encoder.svg", "minilm_L2_H5_encoder.pdf",
              "s1_minilm_capture.json"]  # the images and a file of sentences name theirs so too
    candidates = [f"{folder}{name}" for folder in ("plots/", "data/", "") for name in names]
    res = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT, input="\n".join(candidates),
                         capture_output=True, text=True, timeout=60)
    assert sorted(res.stdout.split()) == sorted(candidates)
    tracked = subprocess.run(["git", "ls-files", "-ci", "--exclude-standard"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60).stdout.split()
    assert tracked == [], "no tracked file is matched by an ignore rule"
