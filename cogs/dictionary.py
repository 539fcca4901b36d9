"""``/dictionary add|remove|list``: the server's pronunciation dictionary (matching: :mod:`.engine.text.pronunciation`).

Part of the server settings extension: ``cogs.server_settings`` loads this cog (don't load it on its own as
well). ``add`` and ``remove`` need Manage Server and change the dictionary through the server's session, so a
text taken just after them is said the new way; ``list`` is for anyone, one page at a time, privately.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from .engine.engine import engine_for
from .engine.text.pronunciation import MAX_ENTRIES, MAX_WORD_CHARS, entry_key, entry_word
from .engine.words import (
    DICTIONARY_EMPTY,
    NO_SPOKEN_FORM,
    NO_WORD,
    dictionary_added,
    dictionary_full,
    dictionary_no_page,
    dictionary_not_there,
    dictionary_page,
    dictionary_removed,
    dictionary_too_long,
)
from .engine_cog import EngineCog
from .interactions import defer, reply

PAGE_CHARS = 1800
"""Characters of entries on one page of ``/dictionary list`` (Discord's messages hold 2,000)."""


def entry_problem(word: str, spoken: str) -> str | None:
    """Why ``word`` → ``spoken`` can't be added (both already :func:`entry_word`), or None."""
    if not word:
        return NO_WORD
    if not spoken:
        return NO_SPOKEN_FORM
    if len(word) > MAX_WORD_CHARS:
        return dictionary_too_long("The word", len(word), MAX_WORD_CHARS)
    if len(spoken) > MAX_WORD_CHARS:
        return dictionary_too_long("The spoken form", len(spoken), MAX_WORD_CHARS)
    return None


def shown(text: str) -> str:
    """A word as it is shown back: no markdown, no mentions (replies ping nobody anyway)."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def pages(entries: dict[str, str]) -> list[list[str]]:
    """The lines of ``/dictionary list``, sorted by word (case aside), in pages of at most :data:`PAGE_CHARS`."""
    lines = [f"• {shown(word)} → {shown(entries[word])}" for word in sorted(entries, key=entry_key)]
    result: list[list[str]] = [[]]
    used = 0
    for line in lines:
        if result[-1] and used + len(line) + 1 > PAGE_CHARS:
            result.append([])
            used = 0
        result[-1].append(line)
        used += len(line) + 1
    return result


class DictionaryCog(EngineCog, name="Dictionary"):
    """The server's pronunciation dictionary.

    Discord lets a server hide whole commands only (``default_permissions`` is not sent for subcommands), and
    ``/dictionary list`` is for everyone, so ``/dictionary`` shows to all; ``add`` and ``remove`` check Manage
    Server themselves and tell a member without it so, privately.
    """

    dictionary = app_commands.Group(
        name="dictionary", description="How words are said in this server.", guild_only=True
    )

    @dictionary.command(name="add", description="Say a word (or name) this way here; needs Manage Server.")
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(word="The word as it is written", spoken="How it should be said")
    async def add(self, interaction: discord.Interaction, word: str, spoken: str) -> None:
        guild = interaction.guild
        if guild is None:
            return
        word, spoken = entry_word(word), entry_word(spoken)
        problem = entry_problem(word, spoken)
        if problem is not None:
            await reply(interaction, problem)
            return
        await defer(interaction)  # the store may be slow: answer Discord within its 3 s first
        added = await self.engine.session_for(guild).add_pronunciation(word, spoken)
        if added == "full":
            await reply(interaction, dictionary_full(MAX_ENTRIES))
        else:
            await reply(interaction, dictionary_added(shown(word), shown(spoken), replaced=added == "replaced"))

    @dictionary.command(name="remove", description="Stop saying a word a special way here; needs Manage Server.")
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(word="The word to remove (suggestions appear as you type)")
    async def remove(self, interaction: discord.Interaction, word: str) -> None:
        guild = interaction.guild
        if guild is None:
            return
        await defer(interaction)
        removed = await self.engine.session_for(guild).remove_pronunciation(entry_word(word))
        if removed is None:
            await reply(interaction, dictionary_not_there(shown(entry_word(word))))
        else:
            await reply(interaction, dictionary_removed(shown(removed)))

    @remove.autocomplete("word")
    async def _words(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild is None:
            return []
        entries = await self.engine.preferences.pronunciations(interaction.guild.id)
        typed = current.casefold()
        found = sorted((w for w in entries if typed in w.casefold()), key=entry_key)
        return [app_commands.Choice(name=w[:100], value=w) for w in found[:25]]

    @dictionary.command(name="list", description="Show how words are said in this server.")
    @app_commands.describe(page="Which page (the first by default)")
    async def list_(self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100] = 1) -> None:
        guild = interaction.guild
        if guild is None:
            return
        await defer(interaction)
        entries = await self.engine.preferences.pronunciations(guild.id)
        if not entries:
            await reply(interaction, DICTIONARY_EMPTY)
            return
        paged = pages(entries)
        if page > len(paged):
            await reply(interaction, dictionary_no_page(page, len(paged)))
            return
        more = f"\n(`/dictionary list page:{page + 1}` for more)" if page < len(paged) else ""
        header = dictionary_page(len(entries), page, len(paged))
        await reply(interaction, "\n".join([header, *paged[page - 1]]) + more)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(DictionaryCog(bot, engine_for(bot)))
