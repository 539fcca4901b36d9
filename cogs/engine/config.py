"""Configuration: ``config.toml`` overridden by environment variables, validated by pydantic-settings.

Environment variables are named ``SECTION_KEY`` (``ASYNCFLOW_API_KEY``, ``DISCORD_TOKEN``,
``SPEECH_MAX_TEXT_LENGTH``). They win over the TOML file, which wins over the defaults. With no file
at all, environment variables alone are enough. Unknown keys in the TOML file are an error (a typo
should stop start-up, not be silently ignored); unknown environment variables are ignored, since
the environment belongs to the whole machine (:func:`misspelled_variables` warns about near misses).
Every problem is reported at once (:mod:`.config_problems` words them). Relative paths resolve against
the config file's folder, or the current directory when there is no file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from . import config_problems
from .config_problems import Origins, describe_validation_error, sections

CONFIG_PATH_ENV = "TTSBOT_CONFIG"
DEFAULT_CONFIG_FILE = Path("config.toml")
DEFAULT_VOICE_ID = "e0f39dc4-f691-4e78-bba5-5c636692cc04"  # AsyncFlow's documented demo voice


class ConfigError(Exception):
    """The configuration cannot be used: one line per problem, each naming the key and what to do.

    ``problems`` holds the lines; ``str(error)`` is the one line, or a header and every line when there are more.
    """

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems: tuple[str, ...] = problems

    def __str__(self) -> str:
        if len(self.problems) <= 1:
            return "".join(self.problems)
        return "\n".join([f"config: {len(self.problems)} problems, fix them all before starting:", *self.problems])


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscordSettings(_Section):
    """Only the bundled runner (``python -m bot``) reads this section; the cogs never do."""

    token: SecretStr | None = None
    sync_commands: bool = True
    """Sync slash commands with Discord at start-up (once per start, not on every reconnect)."""
    dev_guild_id: int | None = None
    """If set, commands are synced to this one server only, where they appear instantly."""
    read_messages: bool = True
    """Load accessibility reading (needs the privileged Message Content intent switched on for the bot)."""
    shard_count: int | None = Field(default=None, ge=1)
    """Shards of the whole bot, across every process; unset: discord.py asks Discord and runs them all here."""
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None
    """The shards this process runs, written ``0-3``, ``0,1`` or ``0-3,8``; unset: all of ``shard_count``."""

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _parse_shard_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_shard_ids(value) if value.strip() else None  # DISCORD_SHARD_IDS= in an env file: unset
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids_within_count(cls, ids: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...] | None:
        if ids is None:
            return None
        count = info.data.get("shard_count")
        if count is None:
            raise ValueError(
                "shard_ids needs shard_count, the shards of the whole bot across every process: set "
                "DISCORD_SHARD_COUNT or shard_count under [discord]"
            )
        if not ids:
            raise ValueError(f"no shard ids given: write them like 0-3 or 0,1 (each below shard_count = {count})")
        beyond = sorted(i for i in ids if i >= count)
        if beyond:
            raise ValueError(f"shard {beyond[0]} is not below shard_count = {count} (shards are 0 to {count - 1})")
        if len(set(ids)) != len(ids):
            raise ValueError("a shard id is listed twice")
        return tuple(sorted(ids))


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """``"0-3,8"`` -> ``(0, 1, 2, 3, 8)``; anything else is refused with how to write it."""
    ids: list[int] = []
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"write shard ids like 0-3, 0,1 or 0-3,8 (not {text!r})")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"the range {part} runs backwards: write {last}-{first}")
        ids.extend(range(first, last + 1))
    return tuple(ids)


class AsyncFlowSettings(_Section):
    api_key: SecretStr | None = None
    base_url: HttpUrl = HttpUrl("https://api.async.com")
    model_id: str = Field(default="async_flash_v1.0", min_length=1)
    voice_id: str = Field(default=DEFAULT_VOICE_ID, min_length=1)
    endpoint: Literal["file", "stream"] = "file"
    """``file``: POST /text_to_speech as WAV. ``stream``: POST /text_to_speech/streaming as raw PCM
    (the only endpoint the newer models serve)."""
    language: str | None = None
    """ISO 639-1 code to force, or unset to let AsyncFlow detect the language."""
    connect_timeout: float = Field(default=5.0, gt=0)
    first_byte_timeout: float = Field(default=20.0, gt=0)
    chunk_timeout: float = Field(default=10.0, gt=0)
    """Longest silence between two pieces of a response before it counts as stalled."""
    max_retries: int = Field(default=3, ge=0, le=10)
    max_retry_wait: float = Field(default=30.0, ge=0)
    """A rate-limit wait longer than this is not waited out: the member is told to try later."""
    max_concurrent_requests: int | None = Field(default=None, ge=1, le=1000)
    """Speech requests open at once at most (your plan's concurrency cap); unset: no limit."""


class SpeechSettings(_Section):
    max_text_length: int = Field(default=500, ge=1, le=4000)
    queue_limit: int = Field(default=25, ge=1, le=1000)
    prebuffer_ms: int = Field(default=40, ge=20, le=5000)
    """Audio buffered before playback starts (and after a stall), so speech does not stutter."""
    read_ahead_ms: int = Field(default=2000, ge=200, le=60_000)
    """Audio downloaded ahead of playback at most; bounds memory per stream."""
    phrase_cache_mb: int = Field(default=32, ge=0, le=4096)
    """Memory for the audio of repeated short phrases ("gg", "Alice said, lol", announcements); 0 turns it off."""
    phrase_cache_max_chars: int = Field(default=100, ge=1, le=4000)
    """Texts up to this long are cached; longer ones are rarely said twice word for word."""
    connect_timeout: float = Field(default=15.0, gt=0)
    leave_when_alone_after: float = Field(default=10.0, ge=0)
    """Seconds to stay after the last human leaves the bot's voice channel."""


class OpusSettings(_Section):
    """How speech is encoded for Discord (the defaults were chosen by ``python -m bench.quality``)."""

    bitrate_kbps: int = Field(default=96, ge=16, le=512)
    complexity: int = Field(default=3, ge=0, le=10)
    """libopus's effort per frame: 10 is the best quality, 0 the least CPU."""
    mono: bool = True
    """Encode one channel (AsyncFlow's speech is mono): the whole bitrate goes to it."""
    signal: Literal["voice", "music", "auto"] = "voice"
    fec: bool = False
    """In-band forward error correction: listeners on lossy networks recover lost packets, at some bitrate."""
    expected_packet_loss_percent: int = Field(default=0, ge=0, le=100)
    encoder_threads: int = Field(default=2, ge=1, le=64)
    """Worker threads that encode for every stream of the process."""

    @model_validator(mode="after")
    def _fec_needs_expected_loss(self) -> OpusSettings:
        if self.fec and self.expected_packet_loss_percent == 0:
            raise ValueError(
                "fec = true needs expected_packet_loss_percent above 0 (libopus adds recovery data only for the "
                "loss it expects: 10 is typical)"
            )
        return self


class LimitsSettings(_Section):
    member_messages_per_minute: int = Field(default=12, ge=0, le=10_000)
    """Texts one member can have spoken per minute in a server (/say and read messages); 0: no limit."""
    server_messages_per_minute: int = Field(default=60, ge=0, le=100_000)
    """Texts one server can have spoken per minute; 0: no limit."""
    server_daily_characters: int = Field(default=0, ge=0)
    """Characters one server can have spoken per UTC day; 0: no limit."""
    max_clones_per_member: int = Field(default=1, ge=0, le=10)
    """Cloned voices (``/voice clone``) one member may keep; 0 turns voice cloning off for the whole bot."""


POSTGRES_SCHEMES = ("postgresql", "postgres")
"""The ``storage.url`` schemes that choose PostgreSQL (``postgresql://user:password@host:5432/database``)."""


class StorageSettings(_Section):
    url: SecretStr | None = None
    """Unset: SQLite at ``sqlite_path``. ``postgresql://…``: PostgreSQL, shared by every process of the bot.
    A secret (it holds the password): never shown in reprs, logs or errors."""
    sqlite_path: Path = Path("data/preferences.sqlite3")
    """Where server and member preferences are kept (created on first start) when ``url`` is unset."""

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None or not url.get_secret_value().strip():
            return None  # STORAGE_URL="" means SQLite, like leaving it out
        scheme = url.get_secret_value().strip().partition("://")[0].lower()
        if scheme not in POSTGRES_SCHEMES:
            raise ValueError(
                "must start with postgresql:// (postgresql://user:password@host:5432/database), "
                "or be left out for SQLite at storage.sqlite_path"
            )
        return SecretStr(url.get_secret_value().strip())


class LoggingSettings(_Section):
    """How the bundled runner logs (``python -m bot``); a host bot configures its own logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """For the project's own loggers (``bot``, ``cogs``, ``asyncflow_tts``); ``-v`` makes it DEBUG."""
    format: Literal["text", "json"] = "text"
    """``json``: one object per line (time, level, logger, message, exception), for log collectors."""

    @field_validator("level", mode="before")
    @classmethod
    def _upper_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class MetricsSettings(_Section):
    """Prometheus metrics (``/metrics``) and a health check (``/healthz``) over HTTP, served by the bundled runner."""

    port: int | None = Field(default=None, ge=1, le=65535)
    """Port to serve them on; unset (the default): not served."""
    host: str = Field(default="127.0.0.1", min_length=1)
    """Address to listen on: 127.0.0.1 keeps them on this machine; 0.0.0.0 for a scraper elsewhere (or in Docker)."""


class Settings(BaseSettings):
    """Everything the bot and its cogs read from configuration."""

    model_config = SettingsConfigDict(
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
    )

    discord: DiscordSettings = DiscordSettings()
    asyncflow: AsyncFlowSettings = AsyncFlowSettings()
    speech: SpeechSettings = SpeechSettings()
    opus: OpusSettings = OpusSettings()
    limits: LimitsSettings = LimitsSettings()
    storage: StorageSettings = StorageSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()

    _file_values: ClassVar[Mapping[str, Any]] = {}
    """The config file's parsed contents (set on the subclass :func:`load_settings` builds)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - pydantic-settings' signature
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_values = getattr(settings_cls, "_file_values", {})
        return (init_settings, _KnownKeysOnly(settings_cls, env_settings), _FileValues(settings_cls, file_values))

    def require_api_key(self) -> str:
        if self.asyncflow.api_key is None or not self.asyncflow.api_key.get_secret_value().strip():
            raise ConfigError(
                "asyncflow.api_key is missing: set ASYNCFLOW_API_KEY or api_key under [asyncflow] in config.toml"
            )
        return self.asyncflow.api_key.get_secret_value().strip()

    def require_token(self) -> str:
        if self.discord.token is None or not self.discord.token.get_secret_value().strip():
            raise ConfigError("discord.token is missing: set DISCORD_TOKEN or token under [discord] in config.toml")
        return self.discord.token.get_secret_value().strip()


class _KnownKeysOnly(PydanticBaseSettingsSource):
    """Environment source that drops variables naming keys the settings do not have.

    ``DISCORD_GUILD_ID`` set for some other program must not stop this bot from starting.
    """

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002 - abstract, unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _prune(self._inner(), self.settings_cls)


class _FileValues(PydanticBaseSettingsSource):
    """The config file's values, parsed once by :func:`load_settings` (which also reports where each came from)."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._values = values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002 - abstract, unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


def _prune(values: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in values.items():
        field = model.model_fields.get(name)
        if field is None:
            continue
        annotation = field.annotation
        if isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            kept[name] = _prune(value, annotation)
        else:
            kept[name] = value
    return kept


def load_settings(config_path: str | Path | None = None) -> Settings:
    """Read settings from ``config_path`` (or ``$TTSBOT_CONFIG``, or ``./config.toml`` if present) and the environment.

    Raises :class:`ConfigError` listing every problem at once, each on one line naming the key.
    """
    path = _config_file(config_path)
    problems: list[str] = []
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as file:
                file_values = tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            problems.append(f"config: {path} is not valid TOML: {error}")
        except UnicodeDecodeError:
            problems.append(f"config: {path} is not UTF-8 text: save it as UTF-8")
        except OSError as error:
            raise ConfigError(f"config: cannot read {path}: {error.strerror}") from None

    class _SettingsFromFile(Settings):
        _file_values: ClassVar[Mapping[str, Any]] = file_values

    try:
        settings: Settings = _SettingsFromFile()
    except ValidationError as error:
        origins = Origins(os.environ, path, file_values)
        problems.extend(describe_validation_error(error, Settings, origins, file_values))
    if problems:
        raise ConfigError(*problems)
    return _resolve_paths(settings, path.absolute().parent if path is not None else Path.cwd())


def _config_file(config_path: str | Path | None) -> Path | None:
    """The file named on the command line or by ``$TTSBOT_CONFIG`` (which must exist), else ``./config.toml``."""
    explicit = config_path if config_path is not None else os.environ.get(CONFIG_PATH_ENV) or None
    if explicit is None:
        return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None
    path = Path(explicit)
    if not path.is_file():
        raise ConfigError(f"config: file not found: {path} (pass --config PATH or set {CONFIG_PATH_ENV})")
    return path


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Every relative path setting made absolute against ``base`` (the config file's folder)."""
    updates: dict[str, BaseModel] = {}
    for name, model in sections(Settings).items():
        section = getattr(settings, name)
        changed = {
            key: base / value.expanduser()
            for key in model.model_fields
            if isinstance(value := getattr(section, key), Path) and not value.expanduser().is_absolute()
        }
        if changed:
            updates[name] = section.model_copy(update=changed)
    return settings.model_copy(update=updates) if updates else settings


def misspelled_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Environment variables that look like settings but name none, each with the one that was meant."""
    return config_problems.misspelled_variables(os.environ if environ is None else environ, Settings)
