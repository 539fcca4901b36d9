"""What the admin reads on the command line, in-process: admin words for every AsyncFlow error, the model and
placeholder checks, and say's input checks."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bot import admin_words
from bot.admin_words import describe_for_admin, text_refusal
from bot.check import model_problem, placeholders
from bot.say_input import SayRefused, output_problem, read_text
from cogs.engine.asyncflow import errors
from cogs.engine.asyncflow.errors import AsyncFlowError, error_from_response
from cogs.engine.asyncflow.model_ids import MODELS, STREAM_ONLY_MODELS
from cogs.engine.config import AsyncFlowSettings, load_settings
from tests.test_cli import OURS, ROOT

API = AsyncFlowSettings.model_validate(
    {"api_key": "sk_secret_key_123", "base_url": "http://127.0.0.1:8765", "voice_id": "v-1", "language": "xx"}
)
MEMBER_WORDS = ("tell the bot's admin", "an admin", "no longer exists", "pick another one")


def every_error() -> list[AsyncFlowError]:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, AsyncFlowError)]
    return [c("HTTP 400: the server's words", status=400) for c in classes]


@pytest.mark.parametrize("error", every_error(), ids=lambda e: type(e).__name__)
def test_every_asyncflow_error_has_admin_words_without_the_members_or_the_key(error: AsyncFlowError) -> None:
    words = describe_for_admin(error, API)
    assert "\n" not in words and words
    assert not [phrase for phrase in MEMBER_WORDS if phrase in words.casefold()]
    assert "sk_secret_key_123" not in words


def test_admin_words_name_the_setting_to_fix() -> None:
    assert describe_for_admin(errors.VoiceNotFound("x", extra={"voice_id": "v-9"}), API) == (
        "voice v-9 was not found: `python -m bot voices` lists yours"
    )
    assert describe_for_admin(errors.VoiceNotFound("x"), API).startswith("voice v-1 was not found")
    assert "set ASYNCFLOW_LANGUAGE (language under [asyncflow])" in describe_for_admin(errors.InvalidLanguage("x"), API)
    assert "http://127.0.0.1:8765/" in describe_for_admin(errors.ApiConnectionError("could not reach"), API)


def test_a_422_names_the_field_asyncflow_refused_and_the_setting_behind_it() -> None:
    body = b'{"detail": [{"type": "enum", "loc": ["body", "model_id"], "msg": "Input should be a or b"}]}'
    error = error_from_response(422, body, {})
    assert error.invalid_field == ("model_id", "Input should be a or b")
    assert describe_for_admin(error, API) == (
        "AsyncFlow refused the request (HTTP 422): model_id: Input should be a or b: set ASYNCFLOW_MODEL_ID "
        f"(model_id under [asyncflow]) to one of {', '.join(MODELS)}"
    )
    nested = error_from_response(
        422, b'{"detail": [{"loc": ["body", "output_format", "sample_rate"], "msg": "no"}]}', {}
    )
    assert describe_for_admin(nested, API).endswith(
        "output_format.sample_rate: no: this bot built a request AsyncFlow doesn't accept; please report it"
    )
    assert error_from_response(422, b'{"detail": []}', {}).invalid_field is None


def test_models_misspelled_unknown_or_on_the_wrong_endpoint() -> None:
    assert all(model_problem(model, "stream") is None for model in MODELS)
    assert model_problem("async_flash_v1.0", "file") is None
    assert "did you mean async_pro_v1.0?" in (model_problem("async_pro_1.0", "stream") or "")
    assert "did you mean" not in (model_problem("gpt-4", "stream") or "did you mean")
    for model in STREAM_ONLY_MODELS:
        assert (model_problem(model, "file") or "").startswith(f"{model} is served only by endpoint = stream")


def test_placeholders_are_the_example_files_own_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(OURS):
            monkeypatch.delenv(name)
    example = load_settings(ROOT / "config.example.toml")
    assert placeholders(example) == ["discord.token", "asyncflow.api_key"]
    monkeypatch.setenv("DISCORD_TOKEN", "a-real-looking-token")
    assert placeholders(load_settings(ROOT / "config.example.toml")) == ["asyncflow.api_key"]


def test_say_text_refusals_follow_slash_says_rule_in_admin_words() -> None:
    assert text_refusal("x" * 500, 500) is None
    assert text_refusal(" " + "x" * 500 + "\n", 500) is None  # counted as /say counts: stripped
    assert (text_refusal("x" * 501, 500) or "").startswith("TEXT is 501 characters, over the limit of 500")
    assert (text_refusal(" \t\n", 500) or "").startswith("TEXT is empty or only whitespace")


def test_say_input_is_utf8_text_and_out_a_writable_file(tmp_path: Path) -> None:
    assert read_text("-", io.BytesIO("héllo".encode())) == "héllo"
    assert read_text("plain", io.BytesIO()) == "plain"
    with pytest.raises(SayRefused, match=r"byte 0xff at offset 2") as refused:
        read_text("-", io.BytesIO(b"hi\xff"))
    assert refused.value.exit_code == 2
    with pytest.raises(SayRefused, match=r"byte 0xe9 at character 1"):
        read_text(os.fsdecode(b"h\xe9"), io.BytesIO())
    assert output_problem("-") is None
    assert output_problem(str(tmp_path / "new.wav")) is None
    assert "is a folder" in (output_problem(str(tmp_path)) or "")
    assert "does not exist" in (output_problem(str(tmp_path / "a" / "b.wav")) or "")


def test_discord_start_up_words_name_the_fix() -> None:
    assert "DISCORD_TOKEN" in admin_words.TOKEN_REJECTED
    words = admin_words.discord_unreachable(OSError("Cannot connect to host discord.com:443"))
    assert words.startswith("could not reach Discord at https://discord.com/api/v10 (Cannot connect to host")
