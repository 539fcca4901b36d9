"""Shapes of AsyncFlow's JSON answers, parsed, and its models. The bottom of the package: imports nothing of ours."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Voice:
    """One entry of AsyncFlow's voice library."""

    id: str
    name: str
    language: str = ""
    gender: str = ""
    accent: str = ""
    description: str = ""

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
        )


MODELS: Final = ("async_pro_v1.0", "async_flash_v1.5", "async_flash_v1.0")
"""AsyncFlow's current text-to-speech models (``asyncflow.model_id``; older ids still work at AsyncFlow)."""
SPEED_CONTROL_MODELS: Final = frozenset({"async_flash_v1.0"})
"""The models that honour ``speed_control``; it is never sent to another one (it would have no effect)."""
SLOWEST_SPEED: Final = 0.7
FASTEST_SPEED: Final = 2.0
"""The range of ``speed_control`` AsyncFlow accepts, and so of ``/voice speed`` and ``speaking-rate``."""
NORMAL_SPEED: Final = 1.0
"""AsyncFlow's own speed when none is sent."""


def honours_speed(model_id: str) -> bool:
    """Whether ``model_id`` speaks faster or slower with ``speed_control``."""
    return model_id in SPEED_CONTROL_MODELS


def speed_allowed(speed: float) -> bool:
    """Whether ``speed`` is a speaking rate AsyncFlow accepts."""
    return math.isfinite(speed) and SLOWEST_SPEED <= speed <= FASTEST_SPEED
