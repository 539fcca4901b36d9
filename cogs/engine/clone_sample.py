"""What a ``/voice clone`` sample must be before anything is sent to AsyncFlow: its format, size and length.

AsyncFlow's ``POST /voices/clone`` documents the formats WAV, MP3, FLAC and AIFF, at most 10 MB, and at least
3 seconds of speech. The format is judged from the file's extension and Discord's content type, the length is
measured from the file itself (with ``mutagen``, which reads all four formats' headers, pure Python).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, BinaryIO, Final

from mutagen import MutagenError
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.wave import WAVE

SAMPLE_FORMATS: Final[dict[str, frozenset[str]]] = {
    "wav": frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}),
    "mp3": frozenset({"audio/mpeg", "audio/mp3"}),
    "flac": frozenset({"audio/flac", "audio/x-flac"}),
    "aiff": frozenset({"audio/aiff", "audio/x-aiff"}),
}
"""Each documented format (by extension) and the content types Discord may give it."""
_EXTENSIONS: Final = {"wav": "wav", "mp3": "mp3", "flac": "flac", "aiff": "aiff", "aif": "aiff"}
_READERS: Final[dict[str, Callable[[BinaryIO], Any]]] = {"wav": WAVE, "mp3": MP3, "flac": FLAC, "aiff": AIFF}
"""mutagen's reader of each format (its constructors are not annotated)."""

MAX_SAMPLE_BYTES: Final = 10_000_000
"""AsyncFlow's "maximum allowed size of 10 MB", read as the smaller of MB and MiB."""
MIN_SAMPLE_SECONDS: Final = 3.0
"""AsyncFlow's "Minimum required is 3 seconds"."""
MAX_CLONE_NAME: Final = 50
"""Characters of a clone's name (it is shown in autocomplete, where a choice's label has 100)."""
CLONE_LANGUAGES: Final = ("en", "fr", "es", "de", "it", "pt", "ar", "ru", "ro", "ja", "he", "hy", "tr", "hi", "zh")
"""The languages AsyncFlow speaks (ISO 639-1), offered as ``/voice clone language:`` (default ``en``)."""


def sample_format(filename: str, content_type: str | None) -> str | None:
    """The documented format of an attachment (``wav``, ``mp3``, ``flac``, ``aiff``), or None if it is none of them.

    The extension decides; a content type Discord gives must agree with it (a ``.wav`` that Discord saw as a
    video is refused)."""
    extension = filename.rsplit(".", 1)[-1].casefold() if "." in filename else ""
    found = _EXTENSIONS.get(extension)
    if found is None:
        return None
    if content_type and content_type.split(";", 1)[0].strip().casefold() not in SAMPLE_FORMATS[found]:
        return None
    return found


def sample_seconds(data: bytes, found: str) -> float | None:
    """How long the sample plays, read from its own header (None when it can't be read as that format)."""
    try:
        length = getattr(getattr(_READERS[found](io.BytesIO(data)), "info", None), "length", None)
    except (MutagenError, ValueError, EOFError, OSError):
        return None
    return float(length) if isinstance(length, int | float) and length > 0 else None
