"""bench.quality's core on one short clip: our default Opus settings keep speech at PESQ-WB 4.0, nothing lost.

Only what timing noise cannot move is asserted (quality and duration); the CPU figures are the bench's to report.
"""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from bench.quality import DISCORD_PY, QUICK_TEXT, Candidate, make_clip, measure
from cogs.engine.config import OpusSettings
from cogs.engine.engine import load_opus


def test_our_defaults_keep_speech_quality_and_length() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    if importlib.util.find_spec("pesq") is None:
        pytest.skip("pesq is not installed (pip install -e '.[bench]')")
    if not load_opus():
        pytest.skip("libopus is not installed (apt-get install libopus0)")

    clip = make_clip(QUICK_TEXT)
    ours = Candidate(OpusSettings())
    results = {result.candidate: result for result in measure([ours], [clip], rounds=1, min_frames=0)}

    assert set(results) == {DISCORD_PY, ours}
    assert results[ours].pesq[0] >= 4.0
    for result in results.values():
        assert result.decoded_s[0] == pytest.approx(result.input_s[0], rel=0.05)
        assert 0 < result.delays[0] < 960  # Opus's lookahead, found and cut off
