"""The pronunciation dictionary: matching in-process, then ``/dictionary`` end to end through the real CommandTree.

End to end, what is checked is what AsyncFlow was asked to say, on each road: ``/say``, a read message, and
the author's name in "Alice said". The store's side (both backends) is in ``test_preferences_store.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from cogs.dictionary import PAGE_CHARS, entry_problem, pages
from cogs.engine.text.cleaner import clean_message
from cogs.engine.text.parts import MessageParts, Names
from cogs.engine.text.pronunciation import MAX_ENTRIES, MAX_WORD_CHARS, Pronunciations, entry_key, entry_word
from cogs.engine.words import NO_SPOKEN_FORM, NO_WORD
from tests.asyncflow_server import FakeAsyncFlow
from tests.bot_harness import BotHarness, every_message_is_private_and_pings_nobody
from tests.conftest import SettingsFactory
from tests.test_reading import EXTENSIONS, in_voice, link_text_channel

# --- matching, in-process ---

SAID = Pronunciations(
    {
        "York": "Yawk",
        "New York": "Noo Yawk",
        "cat": "kitty",
        "C++": "see plus plus",
        "a.b": "A dot B",
        "Zoë": "Zo-ee",
        "Kaïa": "Kai-ah",
        "Łódź": "Woodge",
        "東京": "Tokyo",
        "Alice": "Al-ees",
    }
)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("I love New York, not just york", "I love Noo Yawk, not just Yawk"),  # longest first, any case
        ("new   york", "Noo Yawk"),  # any run of spaces inside a multi-word entry
        ("category cat CAT. bobcat cats", "category kitty kitty. bobcat cats"),  # whole words only
        ("C++ or C++x or aC++ (C++)", "see plus plus or C++x or aC++ (see plus plus)"),  # metacharacters are literal
        ("a.b axb a.bc", "A dot B axb a.bc"),
        ("ZOË and zoë, Zoëy", "Zo-ee and Zo-ee, Zoëy"),
        ("KAÏA's cat", "Kai-ah's kitty"),
        ("to ŁÓDŹ", "to Woodge"),
        ("東京都に行く", "Tokyo都に行く"),  # no spaces between words: matched where it appears
        ("Aliceさん", "Al-eesさん"),  # kana next to a Latin word doesn't make it a longer word
        ("Alice_2 Alice2", "Alice_2 Alice2"),
        ("Alice said York", "Al-ees said Yawk"),  # one pass: a spoken form is not looked up again
    ],
)
def test_whole_words_case_and_unicode(text: str, said: str) -> None:
    assert SAID.apply(text) == said


def test_a_decomposed_letter_is_matched_after_cleaning_and_a_trailing_mark_makes_a_longer_word() -> None:
    cleaned = clean_message(MessageParts(content="Zoe\u0308 is here"), Names())  # NFKC in cleaning composes it
    assert cleaned is not None and SAID.apply(cleaned) == "Zo-ee is here"
    assert Pronunciations({"Zoe": "x"}).apply("Zoe\u0308") == "Zoe\u0308"  # the mark belongs to the word


def test_an_empty_dictionary_leaves_the_text_alone_and_knows_what_it_holds() -> None:
    empty = Pronunciations({})
    assert empty.apply("anything C++") == "anything C++"
    assert empty.holds({}) and not empty.holds({"a": "b"}) and SAID.holds(SAID.entries)


def test_entries_are_normalised_and_checked_before_they_are_stored() -> None:
    assert entry_word("  New \n  York ") == "New York"
    assert entry_word("Ｚｏｅ\u0308") == "Zoë"  # NFKC, as cleaned text is
    assert entry_key("ZOË") == entry_key("zoë")
    assert entry_problem("", "x") == NO_WORD and entry_problem("x", "") == NO_SPOKEN_FORM
    long = "x" * (MAX_WORD_CHARS + 1)
    assert entry_problem(long, "x") == f"The word is {len(long)} characters; the limit is 100. Nothing was changed."
    assert entry_problem("x", long) == (
        f"The spoken form is {len(long)} characters; the limit is 100. Nothing was changed."
    )
    assert entry_problem("x" * MAX_WORD_CHARS, "y" * MAX_WORD_CHARS) is None


def test_a_full_dictionary_of_the_longest_entries_compiles_and_pages_within_discords_limit() -> None:
    entries = {f"{n:03d}" + "w" * (MAX_WORD_CHARS - 3): "*s*" * (MAX_WORD_CHARS // 3) for n in range(MAX_ENTRIES)}
    listed = pages(entries)
    assert all(len("\n".join(page)) <= PAGE_CHARS for page in listed)
    assert sum(len(page) for page in listed) == MAX_ENTRIES
    assert listed[0][0].startswith("• 000w") and "\\*s\\*" in listed[0][0]  # sorted; markdown shown as typed
    assert Pronunciations(entries).apply("x 199" + "w" * 97 + " y").startswith("x *s*")


# --- /dictionary end to end ---

MEMBER_ONLY = discord.Permissions(send_messages=True, connect=True, speak=True)


@pytest.fixture
async def reader(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    reader = await BotHarness.create(asyncflow, make_settings(), EXTENSIONS)
    yield reader
    await reader.stop()


async def add(reader: BotHarness, user: int, word: str, spoken: str, **kwargs: object) -> list[str]:
    return await reader.command(user, "dictionary", {"word": word, "spoken": spoken}, subcommand="add", **kwargs)


async def test_say_a_read_message_and_the_name_in_alice_said_use_the_dictionary(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)
    assert await add(reader, alice, "Alice", "Al-ees") == ["Added to the dictionary: “Alice” is now said “Al-ees”."]
    assert await add(reader, alice, "gg", "good game") == ["Added to the dictionary: “gg” is now said “good game”."]
    assert await add(reader, alice, "GG", "great game") == ["Replaced the entry: “GG” is now said “great game”."]

    await reader.say(alice, "gg everyone, ggg")
    await reader.wait_until_quiet()
    await reader.command(alice, "set", {"setting": "announce-window", "value": "0"})
    reader.fake.post(alice, "**gg** <@" + str(alice) + ">")  # cleaned first: markup gone, the mention named
    await reader.wait_until_quiet()

    assert reader.transcripts() == [
        "Al-ees said, great game everyone, ggg",
        "Al-ees said, great game Al-ees",
    ]
    every_message_is_private_and_pings_nobody(reader)


async def test_remove_and_list_and_what_members_are_told(reader: BotHarness) -> None:
    (alice, bob) = in_voice(reader, "Alice", "Bob")
    assert await reader.command(alice, "dictionary", subcommand="list") == [
        "This server's dictionary is empty. Members with Manage Server add words with `/dictionary add`."
    ]
    for word in ("Zoë", "kaïa", "Bob"):
        await add(reader, alice, word, word.upper() + "!")
    assert await reader.command(bob, "dictionary", subcommand="list", permissions=MEMBER_ONLY) == [
        "**Pronunciation dictionary** — 3 words, page 1 of 1\n• Bob → BOB!\n• kaïa → KAÏA!\n• Zoë → ZOË!"
    ]
    assert await reader.command(bob, "dictionary", {"page": 2}, subcommand="list") == [
        "There is no page 2: the dictionary has 1 page."
    ]
    assert await reader.command(alice, "dictionary", {"word": "zoë"}, subcommand="remove") == [
        "Removed “Zoë” from the dictionary."
    ]
    assert await reader.command(alice, "dictionary", {"word": "zoë"}, subcommand="remove") == [
        "“zoë” isn't in this server's dictionary, so nothing was removed (see `/dictionary list`)."
    ]
    assert await add(reader, alice, "   ", "x") == ["Give me the word to change — it can't be empty."]

    refused = "Only members with the Manage Server permission can change this."
    assert await add(reader, bob, "Bob", "Robert", permissions=MEMBER_ONLY) == [refused]
    options = {"word": "Bob"}
    assert await reader.command(bob, "dictionary", options, subcommand="remove", permissions=MEMBER_ONLY) == [refused]
    assert await reader.live_engine.preferences.pronunciations(reader.fake.guild_id) == {"kaïa": "KAÏA!", "Bob": "BOB!"}
    every_message_is_private_and_pings_nobody(reader)


async def test_a_full_dictionary_says_how_to_make_room_and_the_list_pages(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    store = reader.live_engine.preferences
    for n in range(MAX_ENTRIES):
        await store.set_pronunciation(reader.fake.guild_id, f"word{n:03d}", "x" * 60, max_entries=MAX_ENTRIES)
    assert await add(reader, alice, "one more", "x") == [
        f"This server's dictionary is full ({MAX_ENTRIES} words), so nothing was added. Remove a word first with "
        "`/dictionary remove` (see `/dictionary list`), or replace one by adding it again."
    ]
    assert await add(reader, alice, "WORD000", "y") == ["Replaced the entry: “WORD000” is now said “y”."]
    first = (await reader.command(alice, "dictionary", subcommand="list"))[0]
    assert first.startswith(f"**Pronunciation dictionary** — {MAX_ENTRIES} words, page 1 of 9\n• WORD000 → y\n")
    assert first.endswith("\n(`/dictionary list page:2` for more)") and len(first) <= 2000
    last = (await reader.command(alice, "dictionary", {"page": 9}, subcommand="list"))[0]
    assert last.endswith("• word199 → " + "x" * 60)
