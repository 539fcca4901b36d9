"""Deployment files: what can be checked without a Docker daemon or systemd.

The Dockerfile installs what CI installs, copies what the runner needs, and its entry command runs (executed from
the checkout, which has the image's layout); its health check fetches ``/healthz``; compose.yaml parses and splits
the shards between two bots over one PostgreSQL; the systemd template is a unit with the keys it needs.
"""

from __future__ import annotations

import asyncio
import configparser
import json
import os
import re
import shlex
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from cogs.engine.config import parse_shard_ids

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
OUR_ENV_PREFIXES = ("DISCORD_", "ASYNCFLOW_", "SPEECH_", "TTSBOT_", "LOGGING_", "STORAGE_", "METRICS_")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line and not line.startswith("#"))
    ]


def instruction(name: str) -> list[str]:
    return [arguments for word, arguments in dockerfile_instructions() if word == name]


def exec_form(name: str) -> list[str]:
    """The JSON array of the last ENTRYPOINT or CMD (the one that counts)."""
    value = json.loads(instruction(name)[-1])
    assert isinstance(value, list) and all(isinstance(part, str) for part in value)
    return value


def image_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for arguments in instruction("ENV"):
        env.update(dict(part.split("=", 1) for part in shlex.split(arguments)))
    return env


def apt_packages(shell: str) -> set[str]:
    """The packages named by every ``apt-get install`` in ``shell`` (options dropped)."""
    packages: set[str] = set()
    for command in re.findall(r"apt-get install ([^&|;\n]*)", shell):
        packages.update(word for word in shlex.split(command) if not word.startswith("-") and word != ">/dev/null")
    return packages


CI_TEST_ONLY_PACKAGES = {"espeak-ng"}
"""What CI installs for a test only (the speech clip of tests/test_bench_quality.py), not for the bot to run."""


def test_the_image_installs_the_runtime_packages_ci_installs() -> None:
    ci = apt_packages((ROOT / ".ci" / "run").read_text())
    image = apt_packages(" && ".join(instruction("RUN")))
    assert ci == {"libopus0", *CI_TEST_ONLY_PACKAGES}
    assert image == ci - CI_TEST_ONLY_PACKAGES


def test_the_image_holds_the_runner_and_the_package_and_runs_as_a_volume_owning_user() -> None:
    copied = " ".join(instruction("COPY"))
    for needed in ("pyproject.toml", "README.md", "cogs/", "bot/"):
        assert needed in copied.split(), f"the Dockerfile does not copy {needed}"
    assert any("pip install" in run and " ." in run for run in instruction("RUN"))
    assert instruction("FROM")[0].startswith("python:3.") and instruction("FROM")[0].endswith("-slim")
    assert instruction("USER") == ["tts"]
    assert instruction("VOLUME") == ["/data"]
    env = image_environment()
    assert env["STORAGE_SQLITE_PATH"] == "/data/preferences.sqlite3"
    assert (env["METRICS_HOST"], env["METRICS_PORT"]) == ("0.0.0.0", "9100")  # noqa: S104 - inside the container
    assert not {name for name in env if name.endswith(("TOKEN", "API_KEY", "PASSWORD"))}


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for secret in (".env", "config.toml", "*.sqlite3", ".git", ".venv"):
        assert secret in ignored


async def run_image_command(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The image's ENTRYPOINT (with CMD when no ``args``) run from the checkout, with the image's ENV."""
    command = exec_form("ENTRYPOINT") + (list(args) or exec_form("CMD"))
    assert command[0] == "python"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OUR_ENV_PREFIXES)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command[1:],
        env={**clean, **image_environment(), **(env or {})},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_entry_command_runs(tmp_path: Path) -> None:
    sqlite = {"STORAGE_SQLITE_PATH": str(tmp_path / "preferences.sqlite3")}
    code, out, _ = await run_image_command("--help")
    assert code == 0 and "python -m bot" in out and "check" in out
    code, out, _ = await run_image_command("--version")
    assert (code, out.split()[0]) == (0, "asyncflow-discord-tts")
    code, out, _ = await run_image_command("check", env=sqlite)  # no key: nothing is sent anywhere
    assert code == 1
    assert "[ok] libopus: loaded" in out and "[ok] davey" in out
    assert "[FAIL] asyncflow.api_key: asyncflow.api_key is missing: set ASYNCFLOW_API_KEY" in out
    code, _, err = await run_image_command(env={"ASYNCFLOW_API_KEY": "sk_x", **sqlite})  # CMD: run, without a token
    assert code == 2
    assert err.strip() == "discord.token is missing: set DISCORD_TOKEN or token under [discord] in config.toml"


def health_check() -> list[str]:
    arguments = instruction("HEALTHCHECK")[0]
    return json.loads(arguments[arguments.index("CMD ") + 4 :])  # type: ignore[no-any-return]


@pytest.fixture
async def healthz() -> AsyncIterator[tuple[int, list[str]]]:
    """A stand-in /healthz on a free port, and the paths it was asked for."""
    asked: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(text="ok") if request.path == "/healthz" else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port, asked
    await runner.cleanup()


async def run_health_check(port: int) -> int:
    command = health_check()
    assert command[0] == "python"
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env={**os.environ, **image_environment(), "METRICS_PORT": str(port)}
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_the_health_check_asks_healthz_on_the_metrics_port(healthz: tuple[int, list[str]]) -> None:
    port, asked = healthz
    assert await run_health_check(port) == 0
    assert asked == ["/healthz"]


async def test_the_health_check_fails_when_nothing_answers() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert await run_health_check(port) != 0


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_splits_the_shards_between_two_bots_over_one_postgres() -> None:
    compose = load_compose()
    services = compose["services"]
    bots = {name: s for name, s in services.items() if s.get("build") == "."}
    assert len(bots) == 2
    counts = {int(s["environment"]["DISCORD_SHARD_COUNT"]) for s in bots.values()}
    assert len(counts) == 1
    (count,) = counts
    ranges = [parse_shard_ids(s["environment"]["DISCORD_SHARD_IDS"]) for s in bots.values()]
    assert set(ranges[0]).isdisjoint(ranges[1])
    assert sorted([*ranges[0], *ranges[1]]) == list(range(count))
    syncing = [name for name, s in bots.items() if s["environment"].get("DISCORD_SYNC_COMMANDS") != "false"]
    assert len(syncing) == 1  # the commands are synced once, not by every process

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert postgres["healthcheck"]["test"]
    for bot in bots.values():
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert bot["environment"]["STORAGE_URL"].startswith("postgresql://")
        assert bot["env_file"] == ".env"


def test_compose_holds_no_secret() -> None:
    """Tokens, keys and passwords come from .env: the file only refers to them."""
    text = (ROOT / "compose.yaml").read_text()
    assert "${POSTGRES_PASSWORD:?" in text
    for service in load_compose()["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if name.endswith(("TOKEN", "API_KEY", "PASSWORD")):
                assert str(value).startswith("${"), name
            assert "sk_" not in str(value)


def test_the_systemd_template_runs_one_shard_range_per_instance() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read(ROOT / "deploy" / "asyncflow-tts@.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("python -m bot run")
    environment = dict(part.split("=", 1) for part in shlex.split(service["Environment"]))
    assert environment["DISCORD_SHARD_IDS"] == "%i"
    assert service["EnvironmentFile"].startswith("/etc/")
    assert service["User"] not in ("", "root")
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet"):
        assert hardening in service
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "%i" in unit["Unit"]["Description"]
