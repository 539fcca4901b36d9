"""Turn a Discord message into the words a text-to-speech voice should say.

Pure: no discord.py, no I/O. :mod:`cogs.engine.text.message_parts` extracts :class:`~.parts.MessageParts`
and :class:`~.parts.Names` from discord.py objects; :func:`clean_message` returns the words, or None when
nothing is worth paying the TTS API for. The "Alice said" prefix is the caller's job.

This module only composes the steps; each lives in a module of its own, and none of them imports this one
(:mod:`.parts`, the shared vocabulary, is at the bottom). The content goes through these steps, in this order
(each a small function over precompiled regexes):

1. :func:`.normalise.normalise` - line endings; drop control, format, private-use and surrogate characters
   (keeping the zero-width joiner and tag characters that emoji sequences need); keep at most two
   combining marks per character (zalgo); NFKC, so "𝐟𝐚𝐧𝐜𝐲" fonts and full-width "＜＠１＞" become plain
   text before any markup is parsed (the few emoji NFKC would rewrite, like ™ and ‼, are kept).
   Marks are limited *before* NFKC because CPython reorders long runs of marks in quadratic time.
2. :func:`.tokens.replace_tokens` - one left-to-right pass over Discord's atomic markup, so precedence
   works like Discord's own parser (whatever starts first wins: a spoiler hides the code inside it,
   a code block hides the mentions and spoilers inside it): escapes, code blocks, inline code,
   spoilers, timestamps, mentions (:mod:`.mentions`), slash commands, server pages, custom emoji
   (:mod:`.emoji_names`), masked / suppressed / bare / www links (:mod:`.links`), ``@everyone`` /
   ``@here``. Mentioned names are normalised like step 1 and then flow through the later steps like
   any text (a name's emoji are named, its markup dropped).
3. :func:`.markup.strip_line_markup` - quotes, headers, subtext and list bullets at line starts.
4. :func:`.markup.strip_inline_markup` - ``*``, ``_``, ``~`` emphasis markers and a leading ``@``.
5. :func:`.markup.restore_escapes` - characters escaped with ``\\`` come back as themselves; then
   :func:`.markup.squeeze_whitespace`.
6. :func:`.markup.shorten_repeats` - "nooooo" → "nooo", "hahahahaha" → "hahaha" (``repeated_characters``).
7. a generous pre-cut (:func:`.cut.precut_budget`: 8x ``max_length``, at a word) so the per-emoji work
   below stays small on huge messages; everything before it is a linear regex pass (no nested
   quantifiers, bounded repeats).
8. :func:`.emoji_names.say_unicode_emoji` - emoji names from the ``emoji`` library, runs of one emoji said once.
9. :func:`.markup.strip_symbols` - a safety net: backticks, pipes, backslashes, markup openers such as
   ``<@`` and any URL an escape or a name smuggled in.
10. :func:`.cut.lines_to_sentences` - lines that say nothing are dropped; the rest are joined with ". "
    (or " " after punctuation) so the voice pauses; whitespace collapsed.

Then :func:`clean_message` adds the reply / forward wording and the attachment, sticker, poll and
voice-message descriptions (:mod:`.describe`), and cuts to ``max_length`` (:func:`.cut.cut`) - the text
is cut, not the descriptions.
"""

from __future__ import annotations

from typing import Final

from .cut import SENTENCE_END_CHARS, cut, cut_point, lines_to_sentences, precut_budget
from .describe import describe_extras, join_phrases, reply_prefix
from .emoji_names import say_unicode_emoji
from .markup import (
    restore_escapes,
    shorten_repeats,
    squeeze_whitespace,
    strip_inline_markup,
    strip_line_markup,
    strip_symbols,
)
from .normalise import normalise
from .parts import DEFAULT_OPTIONS, MAX_NAME_CHARS, CleanOptions, MessageParts, Names, speakable
from .tokens import replace_tokens

__all__ = ["MIN_TEXT_BUDGET", "clean_message"]

MIN_TEXT_BUDGET: Final = 20
"""Below this much room next to the descriptions, the whole utterance is cut as one string instead."""


# -- the text pipeline -------------------------------------------------------------------------------------


def _clean_text(content: str, names: Names, options: CleanOptions) -> tuple[str, bool]:
    """The spoken form of ``content`` ("" if nothing is speakable), and whether the pre-cut dropped some."""
    text = normalise(content)
    text = replace_tokens(text, names, options)
    text = strip_line_markup(text)
    text = strip_inline_markup(text)
    text = restore_escapes(text)
    text = squeeze_whitespace(text)
    text = shorten_repeats(text, options.repeated_characters)
    budget = precut_budget(options.max_length)
    precut = len(text) > budget
    if precut:
        text = text[: cut_point(text, budget, sentences=False)]
    text = say_unicode_emoji(text, options.emoji_mode)
    text = strip_symbols(text)
    text = lines_to_sentences(text)
    return (text if speakable(text) else ""), precut


def _clean_fragment(text: str, options: CleanOptions) -> str:
    """A sticker name or poll question: cleaned like content, bounded like a name."""
    cleaned, precut = _clean_text(text, Names(), options)
    return cut(cleaned, MAX_NAME_CHARS, more=precut) if cleaned else ""


# -- the whole message -------------------------------------------------------------------------------------


def _assemble(head: str, text: str, tail: str) -> str:
    if text and tail:
        joiner = " " if text[-1] in SENTENCE_END_CHARS else ", "
        return f"{head}{text}{joiner}with {tail}"
    return head + text + tail


def clean_message(message: MessageParts, names: Names, options: CleanOptions = DEFAULT_OPTIONS) -> str | None:
    """The words to speak, or None when nothing is left worth sending to the TTS API (it costs money).

    Layout: ``[replying to Bob, ][a forwarded message: ]<text>[, with <attachments, stickers, poll>]``.
    When it is too long, the text is cut (sentence, else word boundary) and gets ", and more"; the
    descriptions are kept unless they alone leave under :data:`MIN_TEXT_BUDGET` characters for text.
    """
    limit = max(1, options.max_length)
    text, precut = _clean_text(message.content, names, options)
    tail = join_phrases(describe_extras(message, lambda fragment: _clean_fragment(fragment, options)))
    head = reply_prefix(message.reply_to, lambda name: _clean_text(name, Names(), options)[0])
    if message.forwarded:
        if text or tail:
            head += "a forwarded message: "
        else:
            tail = "forwarded a message"
    if not text and not tail:
        return None
    spoken = _assemble(head, text, tail)
    if len(spoken) <= limit and not precut:
        return spoken
    if text:
        fixed = len(_assemble(head, "x", tail)) - 1
        budget = limit - fixed
        if budget >= MIN_TEXT_BUDGET:
            return _assemble(head, cut(text, budget, more=True), tail)
    return cut(spoken, limit, more=precut)
