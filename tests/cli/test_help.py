"""`rarl --help` and per-command help, through the real console script and in-process."""

from __future__ import annotations

import pytest
import typer.main

from rarl.cli import app

from .helpers import assert_ok, invoke, run_script

COMMANDS = list(typer.main.get_command(app).commands)
"""Every command of `rarl.cli.app`, as the console script names them: a new command is tested too."""


def test_the_command_list_is_the_apps():
    assert set(COMMANDS) >= {  # the list is derived, not empty; a new command joins it by itself
        "prepare", "build-tiny", "build-base", "train", "sft", "plan", "eval", "rank", "draw", "score", "ablate",
        "demo",
    }  # fmt: skip


def test_console_script_help_lists_every_command():
    proc = run_script("--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: rarl" in proc.stdout
    for name in COMMANDS:
        assert f" {name} " in proc.stdout, name
    assert "Traceback" not in proc.stderr


def test_console_script_train_help():
    proc = run_script("train", "--help")
    assert proc.returncode == 0, proc.stderr
    for option in ("--config", "--resume", "--stop-at-step"):
        assert option in proc.stdout


def test_no_arguments_shows_help():
    result = invoke()
    assert "Usage:" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name: str):
    result = invoke(name, "--help")
    assert_ok(result)
    assert f"Usage: rarl {name}" in " ".join(result.output.split())
