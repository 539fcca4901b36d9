"""The wheel installs the plugin as ``asyncflow_tts``, so a host bot that has its own ``cogs`` package loads both.

The wheel is built from a copy of the checkout and installed into a fresh virtual environment that cannot see the
project's editable install: its dependencies come from this environment's site-packages through a ``.pth`` path line
(which adds the directory without running the ``.pth`` files in it, so the editable finder stays out).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS = ("speech", "reading", "members", "server_settings")

HOST_MUSIC = textwrap.dedent(
    '''
    """The host bot's own cog, in the host's own ``cogs`` package."""

    import discord
    from discord import app_commands
    from discord.ext import commands


    class Music(commands.Cog):
        @app_commands.command(name="play", description="Play a song.")
        async def play(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message("la la la")


    async def setup(bot: commands.Bot) -> None:
        await bot.add_cog(Music())
    '''
)

HOST_MAIN = textwrap.dedent(
    """
    import asyncio
    import json

    import discord
    from discord.ext import commands

    import asyncflow_tts
    from asyncflow_tts.engine.config import load_settings
    from asyncflow_tts.engine.engine import ENGINE_ATTRIBUTE, TTSEngine


    async def main() -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        bot = commands.Bot(command_prefix="!", intents=intents)
        async with bot:
            await bot.load_extension("cogs.music")
            await bot.load_extension("asyncflow_tts.speech")
            await bot.load_extension("asyncflow_tts.reading")
            await bot.load_extension("asyncflow_tts.members")
            await bot.load_extension("asyncflow_tts.server_settings")
            engine = getattr(bot, ENGINE_ATTRIBUTE)
            report = {
                "plugin": asyncflow_tts.__file__,
                "extensions": sorted(bot.extensions),
                "cogs": sorted(bot.cogs),
                "commands": sorted(command.name for command in bot.tree.get_commands()),
                "engine": isinstance(engine, TTSEngine),
                "database": str(load_settings().storage.sqlite_path),
            }
        print(json.dumps(report))


    asyncio.run(main())
    """
)

_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "data", "config.toml"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel offline from a copy of the checkout (no stale ``build/`` of ours can leak into it)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), "."], source)
    (built,) = dist.glob("asyncflow_discord_tts-*.whl")
    return built


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_holds_every_module_of_the_plugin_as_asyncflow_tts_and_nothing_else(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        assert not entry_points, archive.read(entry_points[0]).decode()  # no console script: bot/ is not shipped
    tops = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert tops == {"asyncflow_tts"}
    plugin = ROOT / "cogs"
    expected = {"asyncflow_tts/" + path.relative_to(plugin).as_posix() for path in plugin.rglob("*.py")}
    assert {name for name in names if name.startswith("asyncflow_tts/")} == expected, (
        "every package under cogs/ must be listed in [tool.setuptools] packages in pyproject.toml"
    )


def test_a_host_bot_with_its_own_cogs_package_loads_ours_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]  # the fresh venv has no pip of its own
    run([*pip, "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path)
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    fresh_site = Path(run([str(python), "-c", purelib], tmp_path).strip())
    # The dependencies: this environment's site-packages as plain path lines (its own .pth files are not run).
    (fresh_site / "host_dependencies.pth").write_text("".join(f"{path}\n" for path in site.getsitepackages()))

    host = tmp_path / "host"
    (host / "cogs").mkdir(parents=True)
    (host / "cogs" / "__init__.py").write_text("")
    (host / "cogs" / "music.py").write_text(HOST_MUSIC)
    (host / "host.py").write_text(HOST_MAIN)
    database = tmp_path / "p.sqlite3"
    ours = ("DISCORD_", "ASYNCFLOW_", "SPEECH_", "LIMITS_", "STORAGE_", "TTSBOT_", "PYTHON")
    env = {name: value for name, value in os.environ.items() if not name.startswith(ours)}
    env |= {"ASYNCFLOW_API_KEY": "sk_test", "STORAGE_SQLITE_PATH": str(database), "PYTHONNOUSERSITE": "1"}

    report = json.loads(run([str(python), "host.py"], host, env).splitlines()[-1])

    assert Path(report["plugin"]).is_relative_to(fresh_site / "asyncflow_tts"), report["plugin"]
    assert report["extensions"] == sorted(["cogs.music", *(f"asyncflow_tts.{name}" for name in EXTENSIONS)])
    assert {"Music", "Speech", "Reading", "Members", "Server settings"} <= set(report["cogs"])
    assert {"play", "say", "skip", "stop", "leave", "voice", "settings", "set", "link"} <= set(report["commands"])
    assert report["engine"] is True
    assert report["database"] == str(database) and database.exists()


def test_the_readme_gives_the_load_lines_and_imports_the_host_uses() -> None:
    readme = (ROOT / "README.md").read_text()
    assert 'await bot.load_extension("asyncflow_tts.speech")' in readme
    imports = re.findall(r"^from asyncflow_tts\..*$", readme, flags=re.MULTILINE)
    assert imports
    for line in imports:
        assert line in HOST_MAIN, line
