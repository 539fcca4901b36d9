"""What is said besides the text: attachments, stickers, a poll, and who a reply is to.

The cleaning of sticker names, poll questions and reply names is passed in by :mod:`.cleaner`, which owns the
text pipeline, so this module never imports it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from .cut import cut_point
from .parts import Attachment, MessageParts, speakable

__all__ = [
    "MAX_FILE_NAME_CHARS",
    "MAX_NAMED_FILES",
    "MAX_REPLY_NAME_CHARS",
    "describe_extras",
    "join_phrases",
    "reply_prefix",
]

MAX_REPLY_NAME_CHARS: Final = 60
MAX_NAMED_FILES: Final = 3
"""Up to this many non-media files are named; more are counted ("5 files")."""
MAX_FILE_NAME_CHARS: Final = 40


# -- attachments, stickers, polls --------------------------------------------------------------------------

_EXTENSION_KINDS: Final[Mapping[str, str]] = {
    **dict.fromkeys(("png", "jpg", "jpeg", "webp", "bmp", "heic", "heif", "avif", "svg", "tif", "tiff"), "image"),
    "gif": "GIF",
    **dict.fromkeys(("mp4", "mov", "webm", "mkv", "avi", "m4v", "wmv"), "video"),
    **dict.fromkeys(("mp3", "ogg", "oga", "opus", "wav", "flac", "m4a", "aac", "wma"), "audio file"),
}
_KIND_PLURALS: Final[Mapping[str, str]] = {
    "image": "images",
    "GIF": "GIFs",
    "video": "videos",
    "audio file": "audio files",
    "file": "files",
}
_FILE_NAME_JUNK = re.compile(r"[^\w.\- ]+")
_SPOILER_PREFIX: Final = "SPOILER_"


def _attachment_kind(attachment: Attachment) -> str:
    """By MIME type when Discord gives one, else by extension."""
    mime = (attachment.content_type or "").split(";")[0].strip().lower()
    if mime == "image/gif":
        return "GIF"
    major = mime.partition("/")[0]
    if major in ("image", "video"):
        return major
    if major == "audio":
        return "audio file"
    return _EXTENSION_KINDS.get(attachment.filename.rpartition(".")[2].lower(), "file")


def _say_file_name(filename: str) -> str:
    """ "a file named report.pdf": words, dots and dashes only; a name too long to say becomes its type."""
    name = unicodedata.normalize("NFKC", filename[:500]).rsplit("/", 1)[-1]
    name = " ".join(_FILE_NAME_JUNK.sub("", name).replace("_", " ").split())
    stem = name.rpartition(".")[0] if "." in name else name
    name = name.strip(" .-")
    if len(name) <= MAX_FILE_NAME_CHARS and speakable(stem):
        return f"a file named {name}"
    extension = filename.rpartition(".")[2] if "." in filename else ""
    if 0 < len(extension) <= 5 and extension.isascii() and extension.isalnum():
        return f"{_article(extension.upper())} {extension.upper()} file"
    return "a file"


def _article(word: str) -> str:
    """ "a"/"an" for a kind or an extension spelled out as letters (an MP3 file, an image, a PDF file)."""
    if word.isupper():
        return "an" if word[0] in "AEFHILMNORSX" else "a"
    return "an" if word[0].lower() in "aeiou" else "a"


def _counted(kind: str, count: int, *, spoiler: bool) -> str:
    if count == 1:
        noun = f"spoiler {kind}" if spoiler else kind
        return f"{_article(noun.split()[0])} {noun}"
    plural = _KIND_PLURALS[kind]
    return f"{count} spoiler {plural}" if spoiler else f"{count} {plural}"


def _describe_attachments(attachments: Iterable[Attachment], voice_message: bool) -> list[str]:
    """Media are counted by kind; up to three other files are named; a spoiler file's name is never read."""
    counts: dict[tuple[str, bool], int] = {}
    files: list[str] = []
    for attachment in attachments:
        kind = _attachment_kind(attachment)
        spoiler = attachment.filename.startswith(_SPOILER_PREFIX)
        if voice_message and kind == "audio file":
            continue  # the recording itself; described as "a voice message"
        if kind == "file" and not spoiler:
            files.append(attachment.filename)
        counts[kind, spoiler] = counts.get((kind, spoiler), 0) + 1
    phrases: list[str] = ["a voice message"] if voice_message else []
    for (kind, spoiler), count in counts.items():
        if kind == "file" and not spoiler and len(files) <= MAX_NAMED_FILES:
            phrases.extend(_say_file_name(name) for name in files)
        else:
            phrases.append(_counted(kind, count, spoiler=spoiler))
    return phrases


def describe_extras(message: MessageParts, clean_fragment: Callable[[str], str]) -> list[str]:
    """Attachments, stickers and a poll; ``clean_fragment`` says a sticker name or poll question ("" if nothing)."""
    phrases = _describe_attachments(message.attachments, message.voice_message)
    stickers = [clean_fragment(name) for name in message.stickers]
    if stickers:
        said = [name for name in stickers if name]
        if not said:
            phrases.append("a sticker" if len(stickers) == 1 else f"{len(stickers)} stickers")
        elif len(stickers) == 1:
            phrases.append(f"a sticker: {said[0]}")
        else:
            phrases.append(f"{len(stickers)} stickers: {join_phrases(said)}")
    if message.poll_question is not None:
        question = clean_fragment(message.poll_question)
        phrases.append(f"a poll: {question}" if question else "a poll")
    return phrases


def join_phrases(phrases: list[str]) -> str:
    """ "a, b and c"."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"


# -- replies -----------------------------------------------------------------------------------------------


def reply_prefix(reply_to: str | None, clean_name: Callable[[str], str]) -> str:
    """The caller passes a spoken name already; it is cleaned again so no markup can slip through here.

    ``clean_name`` is the text pipeline (with no mention names), "" when nothing in the name is speakable.
    """
    if reply_to is None:
        return ""
    name = clean_name(reply_to) or "someone"
    if len(name) > MAX_REPLY_NAME_CHARS:
        name = name[: cut_point(name, MAX_REPLY_NAME_CHARS, sentences=False)].rstrip(" ,;:-")
    return f"replying to {name}, "
