"""Shapes of AsyncFlow's JSON answers, parsed. The bottom of the package: imports nothing of ours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Voice:
    """One entry of AsyncFlow's voice library."""

    id: str
    name: str
    language: str = ""
    gender: str = ""
    accent: str = ""
    description: str = ""
    custom: bool = False
    """``voice_type`` CUSTOM: a voice cloned on this bot's AsyncFlow account, which may be a member's own."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Voice:
        """Parse one voice; ValueError when it has no id (the client reports that as an unexpected response)."""

        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ""

        voice_id = data.get("voice_id") or data.get("id")
        if not isinstance(voice_id, str) or not voice_id:
            raise ValueError("AsyncFlow listed a voice without an id")
        return cls(
            id=voice_id,
            name=text("name") or voice_id,
            language=text("language"),
            gender=text("gender"),
            accent=text("accent"),
            description=text("description"),
            custom=text("voice_type").upper() == "CUSTOM",
        )
