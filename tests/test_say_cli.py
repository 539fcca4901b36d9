"""``python -m bot say`` is ``/say``: stdin and stdout, refusals before any request, progress, Ctrl-C, voice names.

What needs a process of its own (bytes on stdout, argv that isn't UTF-8, SIGINT) runs as one; the refusals run
``cli.main`` in-process (``run_main``), the same parsing, settings and exit codes without a second of start-up each.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import wave
from pathlib import Path

import pytest

from tests.asyncflow_server import DEFAULT_API_KEY, FakeAsyncFlow
from tests.test_cli import OURS, ROOT, api_env, closed_port, run_cli, run_main

LONG_TEXT = "word " * 99  # about 25 s of the stand-in's audio: interrupted long before its end


def transcripts(server: FakeAsyncFlow) -> list[str]:
    return [str(r.json["transcript"]) for r in server.tts_requests if r.json]


async def test_say_reads_stdin_and_writes_the_wav_to_stdout(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    """``say - --out -``: a pipe in, a WAV out; what is said about it goes to stderr. ``--voice`` by name, any case."""
    asyncflow.ms_per_char = 10
    voice = asyncflow.voices[5]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "say", "-", "--out", "-", "--voice", voice.name.upper(),
        env={**clean, "PYTHONPATH": str(ROOT), **api_env(asyncflow)},
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(b"Hello **there** from a pipe\n"), timeout=60)

    assert process.returncode == 0, err.decode()
    with wave.open(io.BytesIO(out), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (48_000, 2, 2)
        frames = wav.getnframes()
        assert len(wav.readframes(frames)) == frames * 4  # the header's sizes are the data's
    assert frames == 960 * 12  # "Hello there from a pipe": 23 characters x 10 ms, in whole 20 ms frames
    assert err.decode().startswith(f"wrote stdout: {frames // 960} frames")
    assert transcripts(asyncflow) == ["Hello there from a pipe"]
    assert asyncflow.tts_requests[0].json["voice"] == {"mode": "id", "id": voice.voice_id}  # type: ignore[index]
    assert not (tmp_path / "-").exists()  # no file named "-"


async def test_say_refuses_text_that_is_not_utf8_before_any_request(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    """Bytes that aren't UTF-8 on the command line reach Python as surrogates: named, refused, nothing sent."""
    code, _, stderr = await run_cli(
        "say", os.fsdecode(b"caf\xe9 au lait"), "--out", str(tmp_path / "x.wav"), env=api_env(asyncflow), cwd=tmp_path
    )
    assert (code, stderr.strip()) == (
        2,
        "TEXT is not UTF-8 (byte 0xe9 at character 3): set the terminal to UTF-8, or pipe the text through "
        "`iconv -t UTF-8` into `python -m bot say -`",
    )
    assert asyncflow.requests == []


async def test_say_shows_progress_and_leaves_a_valid_wav_on_ctrl_c(asyncflow: FakeAsyncFlow, tmp_path: Path) -> None:
    out = tmp_path / "long.wav"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    # SIGINT as a terminal's Ctrl-C sends it; a test runner's worker may ignore or block it, which exec passes on.
    restore_sigint = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); os.execv(sys.executable, sys.argv[1:])"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", restore_sigint,
        sys.executable, "-m", "bot", "say", LONG_TEXT, "--out", str(out), "--progress-every", "0.3",
        env={**clean, "PYTHONPATH": str(ROOT), **api_env(asyncflow)},
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    progress = (await asyncio.wait_for(process.stderr.readline(), timeout=30)).decode()
    process.send_signal(signal.SIGINT)
    stdout, rest = await asyncio.wait_for(process.communicate(), timeout=30)

    assert progress.startswith("… ") and " s of audio written in " in progress, progress
    assert process.returncode == 130, rest.decode()
    with wave.open(str(out), "rb") as wav:
        frames = wav.getnframes()
        assert (wav.getframerate(), wav.getnchannels()) == (48_000, 2)
    assert 0 < frames < 960 * 50 * 25  # some of it, far from all
    assert out.stat().st_size == 44 + frames * 4  # the header's sizes match the data written
    assert rest.decode().strip() == f"interrupted: {out} holds the first {frames / 48_000:.2f} s, a valid WAV"
    assert stdout == b""


async def test_say_refuses_before_any_request(
    asyncflow: FakeAsyncFlow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each refusal: one line naming the bad value and its fix, its exit status, and no speech request."""
    (tmp_path / "folder").mkdir()
    wav = str(tmp_path / "x.wav")
    cases: list[tuple[tuple[str, ...], bytes, int, str]] = [
        (("-", "--out", wav), b"caf\xe9", 2, "stdin is not UTF-8 text (byte 0xe9 at offset 3): convert it first, "
         "e.g. `iconv -t UTF-8 FILE | python -m bot say - --out FILE.wav`"),
        (("-", "--out", wav), b" \n\t ", 1, "TEXT is empty or only whitespace: give the words to speak "
         "(or - to read them from stdin)"),
        (("hi", "--out", str(tmp_path / "folder")), b"", 2, f"--out {tmp_path / 'folder'} is a folder: give a file "
         f"name, e.g. --out {tmp_path / 'folder' / 'speech.wav'}"),
        (("hi", "--out", str(tmp_path / "nope" / "x.wav")), b"", 2, f"--out {tmp_path / 'nope' / 'x.wav'}: the "
         f"folder {tmp_path / 'nope'} does not exist: create it, or write somewhere else"),
    ]  # fmt: skip
    for args, stdin, status, message in cases:
        code, _, stderr = await run_main(
            "say", *args, env=api_env(asyncflow), cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys, stdin=stdin
        )
        assert (code, stderr.strip()) == (status, message), args
    assert asyncflow.requests == []
    assert not (tmp_path / "x.wav").exists()


async def test_say_tells_the_admin_what_asyncflow_refused(
    asyncflow: FakeAsyncFlow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configured voice that doesn't exist is a typo to fix, not "that voice no longer exists"; a 422 names the
    field AsyncFlow refused and the setting behind it; an unreachable API shows its URL, never the key."""
    wav = str(tmp_path / "x.wav")
    missing = "e0f39dc4-0000-4e78-bba5-000000000000"
    closed = f"http://127.0.0.1:{closed_port()}"
    cases = {
        ("ASYNCFLOW_VOICE_ID", missing): f"voice {missing} was not found: `python -m bot voices` lists yours",
        ("ASYNCFLOW_MODEL_ID", "async_flash_v2"): "AsyncFlow refused the request (HTTP 422): model_id: Input should "
        "be one of async_pro_v1.0, async_flash_v1.5, async_flash_v1.0, asyncflow_v2.0, asyncflow_multilingual_v1.0: "
        "set ASYNCFLOW_MODEL_ID (model_id under [asyncflow]) to one of async_flash_v1.0, async_flash_v1.5, "
        "async_pro_v1.0",
        ("ASYNCFLOW_BASE_URL", closed): f"could not reach AsyncFlow (ConnectError) at {closed}/: check ASYNCFLOW_BASE_URL (base_url under [asyncflow]) and this machine's network",
    }  # fmt: skip
    for (name, value), expected in cases.items():
        env = api_env(asyncflow, ASYNCFLOW_MAX_RETRIES="0", **{name: value})
        code, _, stderr = await run_main(
            "say", "Hello", "--out", wav, env=env, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
        )
        assert (code, stderr.strip()) == (1, expected), name
        assert DEFAULT_API_KEY not in stderr
    assert not (tmp_path / "x.wav").exists()
