"""AsyncFlow's speech models: which endpoints serve them and which honour ``speed_control`` (the API reference's
Models page).

Declared here once: ``python -m bot check`` refuses a model id not listed, with the closest one, and a model
of :data:`STREAM_ONLY_MODELS` on ``endpoint = "file"``, before any request is paid for; the client sends a
speaking rate only to :data:`SPEED_CONTROL_MODELS`, and ``/voice speed`` says when it has no effect.
"""

from __future__ import annotations

import math
from typing import Final

MODELS: tuple[str, ...] = ("async_flash_v1.0", "async_flash_v1.5", "async_pro_v1.0")
"""Every current model id (the legacy pre-2026 ids, ``asyncflow_v2.0`` and ``asyncflow_multilingual_v1.0``, are
not offered: they belong to the retired ``api.async.ai``)."""

STREAM_ONLY_MODELS: frozenset[str] = frozenset({"async_flash_v1.5", "async_pro_v1.0"})
"""Models served only by ``POST /text_to_speech/streaming`` (``endpoint = "stream"``), not by the WAV endpoint."""

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
