"""``python -m sklearn_bp``, the README's first Quick start command."""

import subprocess
import sys

from sklearn_bp.__main__ import main


def test_main_trains_on_digits_and_reports(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("held-out accuracy")[1].split()[0])
    difference = float(out.split("relative difference")[1].split()[0])
    assert accuracy >= 0.95
    assert difference < 1e-8
    assert "fit time" in out and "iterations" in out


def test_main_refuses_unknown_arguments(capsys):
    assert main(["--bogus"]) == 2
    err = capsys.readouterr().err
    assert "usage: sklearn-bp" in err and "unrecognized arguments: --bogus" in err


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("fit", "predict", "info", "gradcheck", "demo"):
        assert f"    {command}" in out


def test_module_runs_as_a_program():
    completed = subprocess.run(
        [sys.executable, "-m", "sklearn_bp"], capture_output=True, text=True, check=True
    )
    assert "held-out accuracy" in completed.stdout
