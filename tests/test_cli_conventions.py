"""Command-line conventions, in-process: help for everything, global options anywhere, exit codes documented."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

from bot.admin_words import EXIT_STATUSES
from bot.cli import build_parser
from tests.test_cli import ROOT


def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def test_every_command_and_option_has_a_help_text() -> None:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {choice.dest: choice.help for choice in subparsers._choices_actions}
    assert set(summaries) == set(commands(parser)) == {"run", "say", "voices", "check", "copy-storage"}
    for name, summary in summaries.items():
        assert summary, f"{name} has no help text"
    for where, each in [("python -m bot", parser), *commands(parser).items()]:
        for action in each._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{where} {action.option_strings or action.dest}"


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "--config", "c.toml", "voices"],
        ["voices", "-v", "--config", "c.toml"],
        ["--config", "c.toml", "voices", "--verbose"],
        ["-v", "voices", "--config", "c.toml"],
    ],
)
def test_global_options_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.verbose, args.config) == ("voices", True, Path("c.toml"))


def test_global_options_default_when_given_nowhere() -> None:
    args = build_parser().parse_args(["check"])
    assert (args.verbose, args.config, args.offline) == (False, None, False)
    assert build_parser().parse_args([]).command is None  # run, the default


def test_the_exit_codes_are_in_the_help_and_the_readme() -> None:
    help_text = build_parser().format_help()
    check_help = commands(build_parser())["check"].format_help()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code, meaning in EXIT_STATUSES.items():
        assert f"\n  {code:<4} {meaning}" in help_text and f"\n  {code:<4} {meaning}" in check_help
        assert f"| {code} | {meaning} |" in readme, f"README's exit status table lacks {code}: {meaning}"


def test_there_is_no_console_script_and_the_readme_says_how_to_run_instead() -> None:
    """The runner (bot/) is not in the wheel, so an installed script could only fail: there is none."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    assert "scripts" not in project and "gui-scripts" not in project
    assert "there is no console script" in (ROOT / "README.md").read_text(encoding="utf-8")
