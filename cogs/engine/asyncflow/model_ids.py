"""AsyncFlow's speech models, and which endpoints serve them (the API reference's Models page).

Declared here once: ``python -m bot check`` refuses a model id not listed, with the closest one, and a model
of :data:`STREAM_ONLY_MODELS` on ``endpoint = "file"``, before any request is paid for.
"""

from __future__ import annotations

MODELS: tuple[str, ...] = ("async_flash_v1.0", "async_flash_v1.5", "async_pro_v1.0")
"""Every current model id (the legacy pre-2026 ids, ``asyncflow_v2.0`` and ``asyncflow_multilingual_v1.0``, are
not offered: they belong to the retired ``api.async.ai``)."""

STREAM_ONLY_MODELS: frozenset[str] = frozenset({"async_flash_v1.5", "async_pro_v1.0"})
"""Models served only by ``POST /text_to_speech/streaming`` (``endpoint = "stream"``), not by the WAV endpoint."""
