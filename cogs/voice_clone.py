"""``/voice clone`` and ``/voice delete-clone``: a member's own voice, cloned at AsyncFlow only after their consent.

The commands themselves are in :mod:`cogs.members` (the ``/voice`` group); this module holds their steps. Every
check that needs nothing uploaded comes first; then an ephemeral message with two buttons asks for consent, and
only a press of "This is my own voice…" by the member who asked uploads the sample. The buttons stop working
after :data:`CONSENT_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Final

import discord

from .engine.asyncflow.errors import AsyncFlowError, VoiceCloneLimitExceeded, VoiceNotFound
from .engine.clone_sample import (
    MAX_CLONE_NAME,
    MAX_SAMPLE_BYTES,
    MIN_SAMPLE_SECONDS,
    sample_format,
    sample_seconds,
)
from .engine.engine import TTSEngine
from .engine.store.models import ClonedVoice
from .engine.words import (
    CLONE_CANCELLED,
    CLONE_NAME_INVALID,
    CLONE_UPLOADING,
    CLONING_OFF_BOT,
    CLONING_OFF_SERVER,
    CONSENT_AGREE,
    CONSENT_CANCEL,
    CONSENT_NOT_YOURS,
    SAMPLE_DOWNLOAD_FAILED,
    SAMPLE_NOT_AUDIO,
    SAMPLE_UNREADABLE,
    clone_done,
    clone_slots_full,
    consent_expired,
    consent_request,
    describe_clone_error,
    sample_too_big,
    sample_too_short,
)
from .interactions import NO_MENTIONS, defer, followup, reply

log = logging.getLogger(__name__)

CONSENT_TIMEOUT_S: Final = 300.0
"""How long the consent buttons work; the consent message says so."""
EXPIRED_ANSWER_S: Final = 600.0
"""After expiry, how long a press (from a client still showing the buttons) is still answered "expired"."""
AGREE_ID: Final = "voice-clone:agree"
CANCEL_ID: Final = "voice-clone:cancel"


@dataclass(frozen=True, slots=True)
class Sample:
    """What would be uploaded, held in memory until the member agrees (or the request expires)."""

    data: bytes
    filename: str
    content_type: str
    name: str
    language: str


async def clone_command(
    engine: TTSEngine, interaction: discord.Interaction, sample: discord.Attachment, name: str, language: str
) -> None:
    """Check the sample, then ask for consent; nothing is uploaded here."""
    limit = engine.settings.limits.max_clones_per_member
    if limit == 0:
        await reply(interaction, CLONING_OFF_BOT)
        return
    name = name.strip()
    if not 1 <= len(name) <= MAX_CLONE_NAME:
        await reply(interaction, CLONE_NAME_INVALID.format(limit=MAX_CLONE_NAME))
        return
    found = sample_format(sample.filename, sample.content_type)
    if found is None:
        await reply(interaction, SAMPLE_NOT_AUDIO)
        return
    if sample.size > MAX_SAMPLE_BYTES:
        await reply(interaction, sample_too_big(sample.size, MAX_SAMPLE_BYTES))
        return
    await defer(interaction)  # the store and Discord's CDN may take a while
    if interaction.guild is not None and not (await engine.preferences.guild(interaction.guild.id)).allow_voice_cloning:
        await reply(interaction, CLONING_OFF_SERVER)
        return
    if len(await engine.preferences.clones(interaction.user.id)) >= limit:
        await reply(interaction, clone_slots_full(limit))
        return
    try:
        data = await sample.read()
    except discord.HTTPException:
        await reply(interaction, SAMPLE_DOWNLOAD_FAILED)
        return
    if len(data) > MAX_SAMPLE_BYTES:
        await reply(interaction, sample_too_big(len(data), MAX_SAMPLE_BYTES))
        return
    seconds = sample_seconds(data, found)
    if seconds is None:
        await reply(interaction, SAMPLE_UNREADABLE)
        return
    if seconds < MIN_SAMPLE_SECONDS:
        await reply(interaction, sample_too_short(seconds, MIN_SAMPLE_SECONDS))
        return
    upload = Sample(data, sample.filename, sample.content_type or f"audio/{found}", name, language)
    view = ConsentView(engine, interaction.user.id, upload, limit)
    message = await interaction.followup.send(
        consent_request(name, _minutes()), view=view, ephemeral=True, allowed_mentions=NO_MENTIONS, wait=True
    )
    view.watch(message)


def _minutes() -> int:
    return math.ceil(CONSENT_TIMEOUT_S / 60)


class ConsentView(discord.ui.View):
    """The consent buttons: only ``owner`` may press them, once, within :data:`CONSENT_TIMEOUT_S`."""

    def __init__(self, engine: TTSEngine, owner: int, sample: Sample, limit: int) -> None:
        super().__init__(timeout=CONSENT_TIMEOUT_S + EXPIRED_ANSWER_S)
        self._engine = engine
        self._owner = owner
        self._sample: Sample | None = sample
        self._limit = limit
        self._deadline = asyncio.get_running_loop().time() + CONSENT_TIMEOUT_S
        self._answered = False
        self._expiry: asyncio.Task[None] | None = None
        agree: discord.ui.Button[ConsentView] = discord.ui.Button(
            label=CONSENT_AGREE, style=discord.ButtonStyle.success, custom_id=AGREE_ID
        )
        cancel: discord.ui.Button[ConsentView] = discord.ui.Button(
            label=CONSENT_CANCEL, style=discord.ButtonStyle.secondary, custom_id=CANCEL_ID
        )
        agree.callback = self._agree  # type: ignore[method-assign]
        cancel.callback = self._cancel  # type: ignore[method-assign]
        self.add_item(agree)
        self.add_item(cancel)

    @property
    def expired(self) -> bool:
        return asyncio.get_running_loop().time() >= self._deadline

    def watch(self, message: Any) -> None:
        """Disable the buttons on ``message`` (the consent message) once the request expires."""
        self._expiry = asyncio.get_running_loop().create_task(self._expire(message), name="voice-clone-consent")

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self._owner:
            return True
        await interaction.response.send_message(CONSENT_NOT_YOURS, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return False

    async def _agree(self, interaction: discord.Interaction) -> None:
        sample = self._take()
        if sample is None:
            await self._refuse_late(interaction)
            return
        await interaction.response.edit_message(content=CLONE_UPLOADING, view=self, allowed_mentions=NO_MENTIONS)
        await upload_clone(self._engine, interaction, sample, self._limit)

    async def _cancel(self, interaction: discord.Interaction) -> None:
        if self._take() is None:
            await self._refuse_late(interaction)
            return
        await interaction.response.edit_message(content=CLONE_CANCELLED, view=self, allowed_mentions=NO_MENTIONS)

    def _take(self) -> Sample | None:
        """The sample, once: None if the request was answered already or has expired."""
        if self._answered or self.expired:
            return None
        self._answered = True
        sample, self._sample = self._sample, None
        self._disable()
        self.stop()
        if self._expiry is not None:
            self._expiry.cancel()
        return sample

    async def _refuse_late(self, interaction: discord.Interaction) -> None:
        words = consent_expired(_minutes()) if not self._answered else "You already answered this request."
        await interaction.response.send_message(words, ephemeral=True, allowed_mentions=NO_MENTIONS)

    def _disable(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True

    async def _expire(self, message: Any) -> None:
        await asyncio.sleep(max(0.0, self._deadline - asyncio.get_running_loop().time()))
        if self._answered:
            return
        self._sample = None  # the sample leaves memory; a late press finds nothing to upload
        self._disable()
        with contextlib.suppress(discord.HTTPException):  # the member may have dismissed the message
            await message.edit(content=consent_expired(_minutes()), view=self, allowed_mentions=NO_MENTIONS)


async def upload_clone(engine: TTSEngine, interaction: discord.Interaction, sample: Sample, limit: int) -> None:
    """After consent: upload, keep the clone and make it the member's voice; each failure told in its own words."""
    tell = followup(interaction)
    user_id = interaction.user.id
    try:
        voice_id = await engine.client.clone_voice(
            sample.data, sample.filename, sample.content_type, sample.name, sample.language
        )
    except AsyncFlowError as error:
        if isinstance(error, VoiceCloneLimitExceeded):
            log.warning(
                "AsyncFlow refused a voice clone: the account's clone limit is reached (VOICE_CLONE_LIMIT_EXCEEDED). "
                "Delete unused voices at AsyncFlow or upgrade the plan."
            )
        else:
            log.info("AsyncFlow refused a voice clone: %s", error.label)
        await tell(describe_clone_error(error))
        return
    clone = ClonedVoice(voice_id, user_id, sample.name, time.time())
    if not await engine.preferences.add_clone(clone, limit):  # another /voice clone of theirs won the last slot
        with contextlib.suppress(AsyncFlowError):
            await engine.client.delete_voice(voice_id)
        await tell(clone_slots_full(limit))
        return
    await engine.preferences.update_member(user_id, voice_id=voice_id)
    await tell(clone_done(sample.name))


@dataclass(frozen=True, slots=True)
class Deletion:
    """What deleting a member's clones did."""

    deleted: list[ClonedVoice]
    """Deleted at AsyncFlow and here."""
    gone: list[ClonedVoice]
    """AsyncFlow had no such voice any more (404): deleted here."""
    kept: list[ClonedVoice]
    """AsyncFlow failed: still there, and still recorded here, to try again."""

    def names(self) -> tuple[list[str], list[str], list[str]]:
        return [c.name for c in self.deleted], [c.name for c in self.gone], [c.name for c in self.kept]


async def delete_clones(engine: TTSEngine, clones: list[ClonedVoice]) -> Deletion:
    """Delete each clone at AsyncFlow (``DELETE /voices/{id}``), then here; a failure keeps the local record."""
    done = Deletion([], [], [])
    for clone in clones:
        try:
            await engine.client.delete_voice(clone.voice_id)
        except VoiceNotFound:
            done.gone.append(clone)
        except AsyncFlowError as error:
            log.warning("could not delete a cloned voice at AsyncFlow: %s", error.label)
            done.kept.append(clone)
            continue
        else:
            done.deleted.append(clone)
        await engine.preferences.remove_clone(clone.user_id, clone.voice_id)
    return done
