"""``tests/asyncflow_server.py --log`` as an admin runs it: it prints what each request carried, key redacted."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.asyncflow_server import DEFAULT_API_KEY, DEMO_VOICE_ID

ROOT = Path(__file__).resolve().parent.parent
SERVER_FILE = ROOT / "tests" / "asyncflow_server.py"


class StandIn:
    """A running stand-in process: its address, and (after it stops) everything it printed."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.output = ""


@asynccontextmanager
async def stand_in(command: Sequence[str], cwd: Path) -> AsyncIterator[StandIn]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
    assert first.startswith("AsyncFlow stand-in listening on http://127.0.0.1:"), first
    running = StandIn(process, first.split(" on ", 1)[1].split()[0])
    try:
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        running.output = rest.decode()
    assert process.returncode == 0, running.output


async def test_log_shows_the_json_body_the_headers_and_the_reply(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tests.asyncflow_server", "--log", "--port", "0"]
    body = {
        "model_id": "async_flash_v1.0",
        "transcript": "Hello everyone",
        "voice": {"mode": "id", "id": DEMO_VOICE_ID},
        "output_format": {"container": "wav", "encoding": "pcm_s16le", "sample_rate": 48000},
    }
    async with stand_in(command, cwd=ROOT) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        spoken = await client.post("/text_to_speech", json=body, headers={"x-api-key": DEFAULT_API_KEY})
        upload = await client.post(
            "/voices/clone",
            data={"name": "Me", "language": "en"},
            files={"audio": ("me.wav", b"RIFF....", "audio/wav")},
            headers={"x-api-key": DEFAULT_API_KEY},
        )
    assert spoken.status_code == 200
    lines = server.output.splitlines()

    assert lines[0] == "POST /text_to_speech"
    assert f"  x-api-key: (redacted, {len(DEFAULT_API_KEY)} characters)" in lines
    assert "  content-type: application/json" in lines
    assert json.loads(next(line for line in lines if line.startswith("  json: "))[len("  json: ") :]) == body
    assert f"  -> 200 audio/wav, {len(spoken.content)} bytes" in lines  # the body, without the chunk framing
    assert "  multipart fields: name, language, audio (file me.wav)" in lines
    assert upload.status_code == 200  # the stand-in clones (tests/test_clone_api.py)
    assert lines[-1] == f"  -> 200 application/json {json.dumps(upload.json())}"
    assert DEFAULT_API_KEY not in server.output


async def test_it_runs_by_file_path_from_any_directory_and_never_prints_a_key(tmp_path: Path) -> None:
    command = [sys.executable, str(SERVER_FILE), "--log", "--port", "0"]
    async with stand_in(command, cwd=tmp_path) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        refused = await client.post("/voices", json={"limit": 5}, headers={"x-api-key": "sk_live_my_real_key_42"})
    assert refused.status_code == 401
    assert server.output.splitlines()[0] == "POST /voices"
    assert '  json: {"limit": 5}' in server.output.splitlines()
    assert server.output.splitlines()[-1].startswith(
        '  -> 401 application/json {"detail": {"error_code": "INVALID_API_KEY"'
    )
    assert "sk_live_my_real_key_42" not in server.output
