"""API cost of reading chat aloud: characters typed, characters sent, and what the phrase cache saves.

``python -m bench.api_cost [--messages 2000] [--seed 1] [--cache-mb 32]``

A seeded model of a busy voice-chat text channel (below, with its mix written out) produces messages the
way members type them: reactions ("lol", "gg", emoji), ordinary sentences, mentions, links, custom emoji,
stretched words, markdown and code, and a moderator's repeated reminders. Each message goes through what
the reading cog does: :func:`clean_message` (the real cleaner) and the "Alice said" announcer (one-minute
window). Then the resulting texts are spoken, in order, through the real ``Utterance`` path against the
AsyncFlow stand-in on 127.0.0.1, once with the phrase cache off and once on; the characters counted are the
transcripts the stand-in received. The model is an assumption, not a recording of a real server: the mix is
printed with the results so it can be argued with, and ``--reaction-share`` changes the biggest lever.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.audio.source import StreamingAudioSource
from cogs.engine.config import AsyncFlowSettings, SpeechSettings
from cogs.engine.playback.announcer import Announcer
from cogs.engine.playback.phrase_cache import PhraseCache
from cogs.engine.playback.utterance import SpeechItem, Utterance
from cogs.engine.text.cleaner import clean_message
from cogs.engine.text.parts import MessageParts, Names
from tests.asyncflow_server import DEFAULT_API_KEY, FakeAsyncFlow

MEMBERS = ["Alice", "bob_the_builder", "Chloé", "xX_Dark_Xx", "Mo", "Priya", "jun", "Sam"]
MEMBER_IDS = {name: 100_000_000_000_000_000 + index for index, name in enumerate(MEMBERS)}
ANNOUNCER_WINDOW_S = 60.0
MS_PER_CHAR = 60.0  # ~16 characters per second of speech

REACTIONS = [
    "lol", "lmao", "gg", "ok", "yeah", "same", "true", "nice", "wait what", "brb", "ty", "np", "hi", "bye",
    "fr", "W", "L", "omg", "yes", "no", "😂", "💀", "👍", "😭😭😭", "❤️", "lets go", "good night", "hahaha",
]  # fmt: skip
SUBJECTS = ["the new patch", "the boss fight", "my internet", "the raid", "dinner", "the stream", "this map"]
OPINIONS = ["is honestly so good", "keeps crashing", "was way harder than last week", "starts at 9 tonight"]
QUESTIONS = ["anyone up for {s}?", "did you all see {s}?", "how long until {s}", "who wants to try {s} again"]
WORDS = (  # noqa: SIM905 - a paragraph reads better than a hundred quoted words
    "i you we they it this that the a an and but so because if when then now later today tonight tomorrow "
    "game map boss raid patch stream chat voice server team match round win lose play try again back home "
    "work school dinner food pizza coffee sleep tired fun funny weird cool hard easy fast slow good bad "
    "really very kinda pretty just still already never always maybe probably think know want need like "
    "love hate see saw said go going went come coming get got make made take took give look wait help"
).split()
LINKS = [
    "check this out https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
    "patch notes: https://store.steampowered.com/news/app/1086940/view/5127367418",
    "https://cdn.discordapp.com/attachments/1/2/screenshot_2026.png",
    "this is us lol https://tenor.com/view/cat-typing-gif-12345",
]
CUSTOM_EMOJI = ["<:pepe_laugh:801234567890123456>", "<a:catjam:812345678901234567>", "<:kekw:823456789012345678>"]
STRETCHED = ["nooooooooooooo", "hahahahahahahahahaha", "whaaaaaaat", "yessssssss!!!!!!!", "bruhhhhhhh"]
MARKDOWN = ["**this** is _important_", "run `git pull` first", "```py\nprint('hello')\n```", "||spoiler: he dies||"]
ANNOUNCEMENTS = [
    "Reminder: the raid starts in ten minutes, get your gear ready.",
    "Please keep voice chat friendly, thanks everyone!",
]

MIX: dict[str, float] = {
    "reaction": 0.30,
    "sentence": 0.36,
    "mention": 0.07,
    "link": 0.06,
    "custom emoji": 0.05,
    "stretched": 0.05,
    "markdown": 0.05,
    "announcement": 0.03,
    "long": 0.03,
}


def scaled_mix(reaction_share: float) -> dict[str, float]:
    """MIX with reactions at ``reaction_share`` and everything else scaled to fill the rest."""
    scale = (1 - reaction_share) / (1 - MIX["reaction"])
    return {kind: (reaction_share if kind == "reaction" else share * scale) for kind, share in MIX.items()}


@dataclass(frozen=True)
class ChatMessage:
    author: str
    content: str
    at: float  # seconds since the session began


def chat_session(count: int, seed: int, reaction_share: float) -> list[ChatMessage]:
    """``count`` messages of a busy channel; authors talk in bursts, a few members talk most."""
    rng = random.Random(seed)
    mix = scaled_mix(reaction_share)
    author_weights = [1 / (rank + 1) for rank in range(len(MEMBERS))]  # Zipf: a few members talk most
    messages: list[ChatMessage] = []
    now, author = 0.0, MEMBERS[0]
    for _ in range(count):
        now += rng.expovariate(1 / 6.0)  # a message every 6 s on average
        if rng.random() > 0.4:  # 40 %: the same member goes on
            author = rng.choices(MEMBERS, author_weights)[0]
        kind = rng.choices(list(mix), list(mix.values()))[0]
        messages.append(ChatMessage(author if kind != "announcement" else "Mod", _content(kind, rng), now))
    return messages


def _content(kind: str, rng: random.Random) -> str:
    subject = rng.choice(SUBJECTS)
    if kind == "reaction":
        return rng.choice(REACTIONS)
    if kind == "sentence":  # practically never the same twice, as real sentences are
        opening = rng.choice(QUESTIONS).format(s=subject) if rng.random() < 0.3 else f"{subject} {rng.choice(OPINIONS)}"
        return opening + " " + " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
    if kind == "mention":
        return f"<@{rng.choice(list(MEMBER_IDS.values()))}> are you joining {subject}?"
    if kind == "link":
        return rng.choice(LINKS)
    if kind == "custom emoji":
        emoji = rng.choice(CUSTOM_EMOJI)
        return " ".join([emoji] * rng.randint(1, 4))
    if kind == "stretched":
        return rng.choice(STRETCHED)
    if kind == "markdown":
        return rng.choice(MARKDOWN)
    if kind == "announcement":
        return rng.choice(ANNOUNCEMENTS)
    words = f"{subject} {rng.choice(OPINIONS)} and".split()
    return " ".join(rng.choice(words) for _ in range(rng.randint(80, 160)))  # a wall of text


def spoken_texts(messages: Sequence[ChatMessage], *, announce: bool = True) -> list[str | None]:
    """What the reading cog would send for each message (None: nothing worth saying)."""
    names = Names(users={member_id: name for name, member_id in MEMBER_IDS.items()})
    announcer = Announcer()
    texts: list[str | None] = []
    for message in messages:
        cleaned = clean_message(MessageParts(content=message.content), names)
        if cleaned is None:
            texts.append(None)
            continue
        prefix = announcer.prefix(message.author, message.author, ANNOUNCER_WINDOW_S, message.at) if announce else ""
        announcer.spoke(message.author, message.at)
        texts.append(prefix + cleaned)
    return texts


async def _ignore(_message: str) -> None:
    return None


async def speak_all(texts: Sequence[str], cache: PhraseCache | None) -> tuple[int, int]:
    """Speak ``texts`` in order through the real Utterance path; returns (requests, characters) the API saw."""
    loop = asyncio.get_running_loop()
    server = FakeAsyncFlow()
    server.ms_per_char = MS_PER_CHAR
    server.chunk_bytes = 64 * 1024  # what is counted is text, not audio: fewer, bigger chunks to encode and drain
    await server.start()
    client = AsyncFlowClient(AsyncFlowSettings(base_url=server.base_url), DEFAULT_API_KEY)
    try:
        for text in texts:
            source = StreamingAudioSource(loop=loop)
            utterance = Utterance(SpeechItem(text, None, 1, _ignore), client=client, source=source, cache=cache)
            if not await utterance.wait_ready():
                raise RuntimeError(f"no audio for {text!r}: {utterance.error}")
            while source.read():  # noqa: ASYNC110 - play it out as fast as it downloads; read() is polled
                # Empty: the packets are still being encoded in the pool's threads. Spinning on read() here would
                # hold the GIL those threads need to hand their packets back (minutes instead of seconds).
                await asyncio.sleep(0 if source.buffered_frames else 0.001)
            await utterance.discard()
            if utterance.error is not None:
                raise RuntimeError(f"{text!r} failed: {utterance.error}")
        requests = server.tts_requests
        return len(requests), sum(len(r.json["transcript"]) for r in requests if r.json)
    finally:
        await client.aclose()
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-mb", type=int, default=SpeechSettings().phrase_cache_mb)
    parser.add_argument("--cache-max-chars", type=int, default=SpeechSettings().phrase_cache_max_chars)
    parser.add_argument("--reaction-share", type=float, default=MIX["reaction"])
    args = parser.parse_args(argv)

    messages = chat_session(args.messages, args.seed, args.reaction_share)
    texts = spoken_texts(messages)
    sent = [text for text in texts if text is not None]
    raw_chars = sum(len(message.content) for message in messages)
    cleaned_chars = sum(len(text) for text in sent)

    cache = PhraseCache(max_bytes=args.cache_mb * 1024 * 1024, max_chars=args.cache_max_chars)
    requests_off, chars_off = asyncio.run(speak_all(sent, None))
    requests_on, chars_on = asyncio.run(speak_all(sent, cache))

    mix = ", ".join(f"{kind} {share:.0%}" for kind, share in scaled_mix(args.reaction_share).items())
    unannounced = sum(len(text) for text in spoken_texts(messages, announce=False) if text is not None)
    print(f"\n{len(messages)} chat messages (seed {args.seed}); mix: {mix}")
    print(f"  typed:                     {raw_chars:8d} characters")
    print(f"  worth saying:              {len(sent):8d} of {len(messages)} messages")
    print(f"  cleaned:                   {unannounced:8d} characters ({unannounced / raw_chars:.0%} of typed)")
    print(f"  cleaned + 'Alice said':    {cleaned_chars:8d} characters ({cleaned_chars / raw_chars:.0%} of typed)")
    print(f"  sent, phrase cache off:    {chars_off:8d} characters in {requests_off} requests")
    print(
        f"  sent, phrase cache {args.cache_mb} MB: {chars_on:8d} characters in {requests_on} requests "
        f"(saves {1 - chars_on / chars_off:.1%} of characters, {1 - requests_on / requests_off:.1%} of requests; "
        f"{cache.size_bytes / 1024 / 1024:.1f} MB held, {len(cache)} phrases)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
