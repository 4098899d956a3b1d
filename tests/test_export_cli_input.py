"""``python -m export``: bad sizes, inputs, output folders and model names exit 2 with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from export.cli import main, write

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "The cat sat on the mat."


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "export", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def one_line_exit_2(res: subprocess.CompletedProcess, message: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert message in res.stderr, res.stderr
    assert res.stdout == ""
    errors = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], res.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--scale", "1000"], "--scale must be between 0.25 and 8"),
    (["--scale", "nan"], "--scale must be"),
    (["--scale", "inf"], "--scale must be a finite number"),
    (["--width", "1000000"], "--width must be between 100 and 4000"),
    (["--height", "50"], "--height must be between 100 and 4000"),
    (["--width", "4000", "--height", "4000", "--scale", "4"], "million pixels"),
])
def test_out_of_bounds_sizes_exit_2(tmp_path, args, message):
    res = run_cli(SENTENCE, "--format", "png", "--out", str(tmp_path / "o"), *args)
    one_line_exit_2(res, message)
    assert not (tmp_path / "o").exists()


def test_out_that_is_a_file_exits_2(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    one_line_exit_2(run_cli(SENTENCE, "--format", "html", "--out", str(f)), "exists and is not a folder")
    assert f.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_that_is_read_only_exits_2(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        one_line_exit_2(run_cli(SENTENCE, "--format", "html", "--out", str(ro)), "is not writable")
        one_line_exit_2(run_cli(SENTENCE, "--format", "html", "--out", str(ro / "sub")), "is not writable")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(("content", "message"), [
    (b"\x00\x01\x02binary\xff\xfe", "is a binary file"),
    ("caf\u00e9 au lait\n".encode("latin-1"), "is not UTF-8 text"),
    (b"a" * 1_000_001, "is larger than 1,000,000 bytes"),
], ids=["binary", "latin-1", "too-large"])
def test_bad_input_files_exit_2(tmp_path, content, message):
    f = tmp_path / "in.txt"
    f.write_bytes(content)
    one_line_exit_2(run_cli("--input", str(f), "--format", "html", "--out", str(tmp_path / "o")), message)


def test_dev_zero_input_exits_2_at_once(tmp_path):
    one_line_exit_2(run_cli("--input", "/dev/zero", "--format", "html", "--out", str(tmp_path), timeout=60),
                    "is not a regular file")


def test_fifo_input_does_not_hang(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    one_line_exit_2(run_cli("--input", str(fifo), "--format", "html", "--out", str(tmp_path), timeout=60),
                    "is not a regular file")


def test_folder_input_exits_2(tmp_path):
    one_line_exit_2(run_cli("--input", str(tmp_path), "--format", "html", "--out", str(tmp_path / "o")),
                    "--input")


def test_very_long_model_name_exits_2(tmp_path):
    res = run_cli(SENTENCE, "--format", "html", "--model", "m" * 5000, "--out", str(tmp_path))
    one_line_exit_2(res, "--model")
    assert len(res.stderr) < 1000


def test_model_name_too_long_for_a_path_exits_2(tmp_path):
    res = run_cli(SENTENCE, "--format", "html", "--model", "x" * 250 + "/" + "y" * 250, "--out", str(tmp_path))
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


def test_write_replaces_a_planted_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "minilm_L0_H0_encoder.html").symlink_to(victim)
    assert main([SENTENCE, "--format", "html", "--out", str(out)]) == 0
    assert victim.read_text() == "keep me"
    written = out / "minilm_L0_H0_encoder.html"
    assert not written.is_symlink() and "Plotly.newPlot" in written.read_text()
    assert sorted(p.name for p in out.iterdir()) == ["minilm_L0_H0_encoder.html"], "no temp file left behind"


def test_write_refuses_a_folder_at_the_output_name(tmp_path):
    (tmp_path / "x.png").mkdir()
    with pytest.raises(OSError):
        write(tmp_path / "x.png", b"data")
