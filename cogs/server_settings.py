"""Server settings: ``/settings`` shows them; admins (Manage Server) use ``/set``, ``/link`` and ``/unlink``.

Load with ``await bot.load_extension("asyncflow_tts.server_settings")`` (installed;
``"cogs.server_settings"`` from a checkout); it brings ``/dictionary`` (:mod:`.dictionary`) with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import discord
from discord import app_commands
from discord.ext import commands

from . import dictionary
from .engine.asyncflow.model_ids import honours_speed
from .engine.asyncflow.voices import MAX_CHOICES, choice_label
from .engine.engine import engine_for
from .engine.playback.private_voices import may_use, visible_voices
from .engine.store.models import GuildPrefs
from .engine.store.setting_kinds import BadValue, RateOrDefault, RoleOrEveryone, VoiceOrDefault
from .engine.store.setting_table import BY_NAME, SETTINGS
from .engine.words import PRIVATE_SERVER_VOICE, UNKNOWN_VOICE, speed_has_no_effect
from .engine_cog import EngineCog
from .interactions import defer, reply

ReadableChannel = discord.TextChannel | discord.VoiceChannel | discord.StageChannel


class ServerSettingsCog(EngineCog, name="Server settings"):
    """How this server is read aloud."""

    # -- /settings -----------------------------------------------------------------------------------

    @app_commands.command(name="settings", description="Show how this server is read aloud, and your own choices.")
    @app_commands.guild_only()
    async def settings(self, interaction: discord.Interaction) -> None:
        guild = interaction.guild
        if guild is None:
            return
        # Answer within Discord's 3 seconds, whatever the store and the voice catalog take.
        await interaction.response.defer(ephemeral=True, thinking=True)
        prefs = await self.engine.preferences.guild(guild.id)
        member = await self.engine.preferences.member(interaction.user.id)
        lookups = await self._lookups(guild, [*_voices_in(prefs), member.voice_id])
        channels = ", ".join(f"<#{channel_id}>" for channel_id in sorted(prefs.linked_channels)) or "none yet (`/link`)"
        lines = ["**This server**", f"Reading channels: {channels}"]
        lines += [f"`{setting.name}`: {setting.shown(prefs, lookups)} — {setting.help}" for setting in SETTINGS]
        lines.append(await self._usage_line(guild.id))
        own_voice = lookups.voice_shown(member.voice_id) if member.voice_id else None
        own_rate = f"{member.speaking_rate:g}×" if member.speaking_rate is not None else "the server's"
        lines += [
            "",
            "**You**",
            f"Voice: {own_voice or member.voice_id or 'the server voice'} (`/voice set`)",
            f"Speaking rate: {own_rate} (`/voice speed`)",
            f"Name said here: {member.spoken_names.get(guild.id) or 'your display name'} (`/nickname`)",
            f"Your messages are read: {'no (`/opt-in` to change)' if member.opted_out else 'yes (`/opt-out` to stop)'}",
        ]
        await reply(interaction, "\n".join(lines))

    async def _usage_line(self, guild_id: int) -> str:
        limits = self.engine.limits.settings
        used = await self.engine.limits.used_today(guild_id)
        budget = f"of {limits.server_daily_characters:,} " if limits.server_daily_characters else ""
        rates = []
        if limits.member_messages_per_minute:
            rates.append(f"{limits.member_messages_per_minute} a minute per member")
        if limits.server_messages_per_minute:
            rates.append(f"{limits.server_messages_per_minute} a minute for the server")
        rate_text = f"; at most {' and '.join(rates)}" if rates else ""
        return f"Spoken today: {used:,} {budget}characters (resets at midnight UTC){rate_text} (bot config)"

    async def _lookups(self, guild: discord.Guild, voice_ids: Iterable[object]) -> _ServerLookups:
        """What showing settings in this server needs, with the names of the voices ``voice_ids``."""
        names: dict[str, str] = {}
        for voice_id in {v for v in voice_ids if isinstance(v, str) and v}:
            name = await self._voice_name(voice_id)
            if name is not None:
                names[voice_id] = name
        return _ServerLookups(guild, names)

    async def _voice_name(self, voice_id: str) -> str | None:
        """A voice's name for showing it, or None. Every voice name this cog shows comes from here: the catalog's
        cached list; only before any list has been fetched (just after start-up) it waits for one, at most the
        catalog's fetch timeout, and only after the interaction was deferred, so Discord's 3 s are never missed."""
        voices = self.engine.voices
        if voices.has_list:
            return voices.cached_name(voice_id)
        voice = await voices.find(voice_id)
        return voice.name if voice is not None else None

    async def _voice_refusal(self, voice_id: str) -> str | None:
        """Why this voice can't be the server voice (AsyncFlow hasn't it, or it is a member's own clone), or None.
        May refresh the catalog, so only after deferring."""
        voice = await self.engine.voices.find(voice_id)
        if voice is None:
            return UNKNOWN_VOICE
        if not await may_use(voice, self.engine.preferences, None):
            return PRIVATE_SERVER_VOICE
        return None

    # -- /set ----------------------------------------------------------------------------------------

    @app_commands.command(name="set", description="Change how this server is read aloud (see /settings).")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(setting="What to change", value="The new value (suggestions appear as you type)")
    @app_commands.choices(
        setting=[app_commands.Choice(name=f"{s.name}: {s.help}"[:100], value=s.name) for s in SETTINGS]
    )
    async def set_(self, interaction: discord.Interaction, setting: str, value: str) -> None:
        guild = interaction.guild
        chosen = BY_NAME.get(setting)
        if guild is None or chosen is None:
            await reply(interaction, "Pick a setting from the list.")
            return
        try:
            parsed = chosen.parse(value, _ServerLookups(guild, {}))  # never waits: answered at once if wrong
        except BadValue as problem:
            await reply(interaction, str(problem))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # the catalog and the store may take a while
        if isinstance(chosen.kind, VoiceOrDefault) and isinstance(parsed, str):
            refusal = await self._voice_refusal(parsed)
            if refusal is not None:
                await reply(interaction, refusal)
                return
        prefs = await self.engine.preferences.update_guild(guild.id, **{chosen.field: parsed})
        lookups = await self._lookups(guild, [parsed] if isinstance(chosen.kind, VoiceOrDefault) else [])
        answer = f"`{chosen.name}` is now {chosen.shown(prefs, lookups)}."
        model = self.engine.settings.asyncflow.model_id
        if isinstance(chosen.kind, RateOrDefault) and parsed is not None and not honours_speed(model):
            answer += "\n" + speed_has_no_effect(model)
        await reply(interaction, answer)

    @set_.autocomplete("value")
    async def _value_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        chosen = BY_NAME.get(getattr(interaction.namespace, "setting", "") or "")
        if chosen is None:
            return []
        if isinstance(chosen.kind, VoiceOrDefault):
            voices = await visible_voices(
                self.engine.voices, self.engine.preferences, current, None, limit=MAX_CHOICES - 1
            )
            return [app_commands.Choice(name="default (the bot's voice)", value="default")] + [
                app_commands.Choice(name=choice_label(v), value=v.id) for v in voices
            ]
        if isinstance(chosen.kind, RoleOrEveryone):
            if interaction.guild is None:
                return []
            roles = [
                r for r in interaction.guild.roles if not r.is_default() and current.casefold() in r.name.casefold()
            ]
            return [app_commands.Choice(name="none (read everyone)", value="none")] + [
                app_commands.Choice(name=r.name[:100], value=str(r.id)) for r in roles[: MAX_CHOICES - 1]
            ]
        return [app_commands.Choice(name=o, value=o) for o in chosen.suggestions(current, MAX_CHOICES)]

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed from a server: forget its settings, as a privacy-minded admin would expect."""
        await self.engine.preferences.forget_guild(guild.id)

    # -- /link, /unlink ------------------------------------------------------------------------------

    @app_commands.command(name="link", description="Read messages posted in this channel aloud.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(channel="The channel to read (default: this one)")
    async def link(self, interaction: discord.Interaction, channel: ReadableChannel | None = None) -> None:
        await self._change_link(interaction, channel, linked=True)

    @app_commands.command(name="unlink", description="Stop reading a channel aloud.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(channel="The channel to stop reading (default: this one)")
    async def unlink(self, interaction: discord.Interaction, channel: ReadableChannel | None = None) -> None:
        await self._change_link(interaction, channel, linked=False)

    async def _change_link(self, interaction: discord.Interaction, channel: object, *, linked: bool) -> None:
        guild = interaction.guild
        target_id = getattr(channel, "id", None) or interaction.channel_id
        if guild is None or target_id is None:
            return
        await defer(interaction)  # the store may be slow: answer Discord within its 3 s first
        prefs = await self.engine.preferences.guild(guild.id)
        channels = set(prefs.linked_channels)
        if linked:
            channels.add(target_id)
            message = (
                f"I'll read messages posted in <#{target_id}> in my voice channel. "
                "(Reading needs the Message Content intent enabled for this bot.)"
            )
        else:
            if target_id not in channels:
                await reply(interaction, f"<#{target_id}> isn't being read.")
                return
            channels.discard(target_id)
            message = f"I've stopped reading <#{target_id}>."
        await self.engine.preferences.update_guild(guild.id, linked_channels=frozenset(channels))
        await reply(interaction, message)


class _ServerLookups:
    """What showing and reading settings needs to know, for one server: its roles, and voice names found before."""

    def __init__(self, guild: discord.Guild, voice_names: Mapping[str, str]) -> None:
        self._guild = guild
        self._voice_names = voice_names

    def role_id(self, typed: str) -> int | None:
        return _find_role(self._guild, typed)

    def role_shown(self, role_id: int) -> str | None:
        role = self._guild.get_role(role_id)
        return role.mention if role else None

    def voice_shown(self, voice_id: str) -> str | None:
        return self._voice_names.get(voice_id)


def _voices_in(prefs: GuildPrefs) -> list[object]:
    """The voice ids held by the server's voice settings."""
    return [setting.value(prefs) for setting in SETTINGS if isinstance(setting.kind, VoiceOrDefault)]


def _find_role(guild: discord.Guild, text: str) -> int | None:
    digits = text.strip().removeprefix("<@&").removesuffix(">")
    if digits.isdigit() and guild.get_role(int(digits)) is not None:
        return int(digits)
    for role in guild.roles:
        if role.name.casefold() == text.strip().removeprefix("@").casefold():
            return role.id
    return None


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ServerSettingsCog(bot, engine_for(bot)))
    await dictionary.setup(bot)  # /dictionary is a server setting too


async def teardown(bot: commands.Bot) -> None:
    """discord.py removes only the cogs defined in this module; the dictionary's goes with them."""
    await bot.remove_cog(dictionary.DictionaryCog.__cog_name__)
