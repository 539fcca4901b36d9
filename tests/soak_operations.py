"""The three-channel soak's operations: members spread over three voice channels use /say, post, edit, delete,
/skip, /stop and move at random, and every one of them is written in the ledger."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable

import discord

from tests.bot_harness import BotHarness
from tests.discord_fakes import Conversation
from tests.soak_ledger import Action, Item, Ledger, now

OPERATIONS = 260
RUN_BUDGET_S = 32.0
"""No new operation after this long (the whole test stays within about a minute on two cores)."""
GAP_S = 0.12
"""At most this long between two operations of a burst."""

WORDS = (
    "apple", "river", "stone", "cloud", "maple", "ember", "frost", "grove", "harbor", "island", "jungle", "kettle",
    "lemon", "meadow", "nectar", "orbit", "pepper", "quartz", "raven", "saddle", "willow", "velvet", "copper",
)  # fmt: skip

STOPPED_REPLY = re.compile(r"^⏹️ Stopped and cleared (\d+) messages?\.$")


class Soak:
    def __init__(self, bot: BotHarness, seed: int) -> None:
        self.bot = bot
        self.fake = bot.fake
        self.seed = seed
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.channels = [self.fake.voice_channel_id, self.fake.other_voice_channel_id, self.fake.third_voice_channel_id]
        self.anchors: list[int] = []
        """One member per channel who never moves: no channel is ever left empty (the bot would leave it)."""
        self.movers: list[int] = []
        self.tones: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.numbers = iter(range(1000))
        self.last_written: dict[int, float] = {}
        """When each member last posted or edited a message."""

    async def setup(self) -> None:
        fake = self.fake
        for name, channel in zip(("Ann", "Ben", "Cat"), self.channels, strict=True):
            self.anchors.append(fake.add_member(name, voice_channel_id=channel))
            self.names[self.anchors[-1]] = name
        for name, channel in zip(("Dan", "Eve", "Fay"), self.channels, strict=True):
            self.movers.append(fake.add_member(name, voice_channel_id=channel))
            self.names[self.movers[-1]] = name
        fake.build_guild()
        start = now()
        for member, channel in zip(self.anchors + self.movers, self.channels * 2, strict=True):
            self.ledger.where[member] = [(start, channel)]
        # Voices 120 Hz apart (220 ... 820 Hz): each member's speech is told apart by its tone.
        for member, hz in zip(self.anchors + self.movers, (220, 340, 460, 580, 700, 800), strict=True):
            voice = next(v for v in self.bot.server.voices if v.tone_hz == hz)
            await self.bot.live_engine.preferences.update_member(member, voice_id=voice.voice_id)
            self.tones[member] = float(hz)
        assert (await self.bot.command(self.anchors[0], "link"))[0].startswith("I'll read messages posted in")
        self.ledger.bot_where.append((now(), None))

    # -- watching where the bot is --------------------------------------------------------------------------------

    def bot_channel(self) -> int | None:
        voice = self.fake.guild.voice_client
        channel = voice.channel if voice is not None else None
        return channel.id if isinstance(channel, discord.VoiceChannel) else None

    async def watch_the_bot(self) -> None:
        while True:
            channel = self.bot_channel()
            if channel != self.ledger.bot_where[-1][1]:
                self.ledger.bot_where.append((now(), channel))
            await asyncio.sleep(0.003)

    # -- operations -----------------------------------------------------------------------------------------------

    def words(self, low: int, high: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(low, high)))

    def new_tag(self) -> str:
        return f"t{next(self.numbers):03d}"

    def everyone(self) -> list[int]:
        return self.anchors + self.movers

    def where_now(self, member: int) -> int:
        return self.ledger.where[member][-1][1]

    def _command(self, member: int, name: str, options: dict[str, str] | None = None) -> Conversation:
        interaction, conversation = self.fake.interaction(member, name, options)
        task = asyncio.create_task(self.bot.bot.tree._call(interaction), name=f"soak-{name}")
        self.tasks.append(task)
        return conversation

    def _someone(self, listening: float) -> int:
        """A member: one where the bot is with probability ``listening`` (if anyone is), else anyone."""
        channel = self.bot_channel()
        there = [m for m in self.everyone() if self.where_now(m) == channel]
        return self.rng.choice(there if there and self.rng.random() < listening else self.everyone())

    async def say(self) -> None:
        member = self._someone(listening=0.4)
        tag = self.new_tag()
        text = f"{tag} {self.words(1, 4)}"
        item = Item(tag, "say", member, now(), self.where_now(member), text)
        item.conversation = self._command(member, "say", {"text": text})
        self.ledger.items.append(item)

    async def post(self) -> None:
        member = self._someone(listening=0.7)  # mostly those listening, as in a server
        tag = self.new_tag()
        text = f"{tag} {self.words(1, 4)}"
        item = Item(tag, "read", member, now(), self.where_now(member), text, readable=text)
        item.message_id = self.fake.post(member, text)
        self.last_written[member] = item.submitted
        self.ledger.items.append(item)

    def _recent_posts(self) -> list[Item]:
        """Posts that may still be queued or being heard (the latest most often)."""
        posts = [item for item in self.ledger.items[-12:] if item.kind == "read" and item.withdrawn_at is None]
        return posts[-self.rng.randint(1, 4) :]

    async def edit(self) -> None:
        posts = self._recent_posts()
        if not posts:
            return
        item = self.rng.choice(posts)
        assert item.message_id is not None
        if self.rng.random() < 0.3:
            text, withdrawn_by = f"!{item.text}", "ignore-prefix edit"
        else:
            text, withdrawn_by = self._edited(item), ""
            if self.where_now(item.member) != item.channel:
                # Judged again by every reading rule: its author has left the channel it was read in (the bot's).
                withdrawn_by = "edit after its author left"
        at = now()
        self.fake.edit(item.member, item.message_id, text)
        self.last_written[item.member] = at
        item.text = text
        if withdrawn_by:
            item.withdrawn_at, item.withdrawn_by = at, withdrawn_by
        else:
            item.edits.append(at)
            item.readable = text

    def _edited(self, item: Item) -> str:
        """Another readable text, at least 14 characters longer or shorter (7 frames: told apart by its length)."""
        if len(item.text) < 24:
            text = f"{item.tag} edited"
            while len(text) < len(item.text) + 14:
                text += f" {self.rng.choice(WORDS)}"
            return text
        return f"{item.tag} {self.rng.choice(('ok', 'fix', 'no'))}"

    async def delete(self) -> None:
        posts = self._recent_posts()
        if not posts:
            return
        item = self.rng.choice(posts)
        assert item.message_id is not None
        item.withdrawn_at, item.withdrawn_by = now(), "delete"
        self.fake.delete(item.message_id)

    def _listener(self) -> int:
        """A member in the bot's channel, if it is in one (the others are told to join it)."""
        channel = self.bot_channel()
        there = [m for m in self.everyone() if self.where_now(m) == channel]
        return self.rng.choice(there or self.everyone())

    async def skip(self) -> None:
        self._control("skip")

    async def stop(self) -> None:
        self._control("stop")

    def _control(self, name: str) -> None:
        member = self._listener()
        at = now()
        self.ledger.commands.append((name, at, member, self._command(member, name)))

    async def move(self) -> None:
        # Not the author of a post or edit being judged: whether it is read depends on where its author is.
        movers = [m for m in self.movers if now() - self.last_written.get(m, 0.0) > 0.5]
        if not movers:
            return
        member = self.rng.choice(movers)
        to = self.rng.choice([c for c in self.channels if c != self.where_now(member)])
        at = now()
        self.bot.bot.dispatch("voice_state_update", *self.fake.move_member(member, to))
        self.ledger.where[member].append((at, to))

    async def pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(0.3, 1.0))

    async def quiet(self) -> None:
        """Everything said and done: the bot is idle, and the next /say from any channel moves it there."""
        await self.bot.wait_until_quiet(timeout=30)

    async def run(self) -> None:
        operations: dict[str, tuple[float, Callable[[], object]]] = {
            "say": (0.30, self.say),
            "post": (0.27, self.post),
            "edit": (0.12, self.edit),
            "delete": (0.08, self.delete),
            "skip": (0.05, self.skip),
            "stop": (0.03, self.stop),
            "move": (0.08, self.move),
            "pause": (0.05, self.pause),
            "quiet": (0.02, self.quiet),
        }
        names = list(operations)
        weights = [weight for weight, _ in operations.values()]
        watcher = asyncio.create_task(self.watch_the_bot(), name="soak-watcher")
        started = now()
        try:
            for _ in range(OPERATIONS):
                if now() - started > RUN_BUDGET_S:
                    break
                name = self.rng.choices(names, weights)[0]
                self.ledger.counts[name] = self.ledger.counts.get(name, 0) + 1
                result = operations[name][1]()
                assert asyncio.iscoroutine(result)
                await result
                await asyncio.sleep(self.rng.uniform(0, GAP_S))
            await self.bot.wait_until_quiet(timeout=45)
            await asyncio.gather(*self.tasks)
            await self.bot.wait_until_quiet(timeout=20)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        for name, at, member, conversation in self.ledger.commands:
            reply = conversation.texts[0] if conversation.texts else ""
            if reply == "⏭️ Skipped.":
                self.ledger.actions.append(Action("skip", at, member, 1))
            elif (stopped := STOPPED_REPLY.match(reply)) is not None:
                self.ledger.actions.append(Action("stop", at, member, int(stopped[1])))
            else:
                allowed = {"Nothing is being spoken right now.", "Nothing was being spoken or queued."}
                assert reply in allowed or reply == "I'm not in a voice channel." or reply.startswith("Join <#"), (
                    self.seed,
                    name,
                    conversation.texts,
                )
