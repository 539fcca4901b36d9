"""Judging the three-channel soak: every item must have ended in exactly one way a member would understand (see
tests/test_soak_channels.py), and what each member was told must be true."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cogs.engine.words import STOPPED_BY_SOMEONE, cut_short
from tests.soak_ledger import PAUSE_MS, Action, Item, Segment, frames_for, segments, timeline
from tests.soak_operations import Soak

FULL_TOLERANCE = 3
"""Frames a text heard in full may differ from its transcript's length (fades at both ends, rounding)."""
CUT_LAG_S = 0.1
"""A text cut off by a skip, stop or delete stops being heard within this long after it (a few ms, usually)."""
TAIL_S = PAUSE_MS / 1000 + 0.01
"""... and may come this long after its last loud frame: the text's closing pause was still being played."""
EDIT_LAG_S = 0.25
"""... and by an edit to start with the ignore prefix within this long (the edit is judged first: the store is read)."""
START_MARGIN_S = 0.1
"""A text may start being heard this long after its delete or edit was sent (until its event handler runs). An edit
holds its text back while it is judged, so a text that starts later is heard as edited, or not at all."""
READ_WINDOW_S = 2.0
"""A post is certain to be read only if its author and the bot stay in one channel this long after it."""
MAX_ATTEMPTS = 120
"""Matches of what was heard to the items tried at most, looking for one that accounts for every item."""

STOPPED = STOPPED_BY_SOMEONE
"""Told to a member whose message someone's /stop dropped before any of it was heard ..."""
STOPPED_REST = cut_short(STOPPED_BY_SOMEONE)
"""... and to one who had heard the start of it."""
TOLD_CHANNEL = re.compile(r"^(?:🔊 Speaking in|Queued in) <#(\d+)>")
BUSY = re.compile(r"^I'm speaking in <#(\d+)> right now — join that channel, or wait until I'm done\.$")
QUEUE_FULL = re.compile(r"^The queue is full \(\d+ messages\) — wait a moment and try again\.$")


@dataclass
class Heard:
    segment: Segment
    full: bool


class Judge:
    def __init__(self, soak: Soak) -> None:
        self.soak = soak
        self.ledger = soak.ledger
        self.problems: list[str] = []
        self.transcripts = soak.bot.transcripts()
        self.heard: list[Segment] = []
        self.assigned: dict[int, Heard] = {}
        self._versions: dict[str, list[float]] = {}
        self._fits: dict[tuple[int, int], Heard | str] = {}
        self.deadlines: dict[int, float] = {}
        """For each item: when the first item sent after it was heard."""
        self.lags: list[float] = []
        """How long after what cut it off each text cut off stopped."""
        self.used: dict[int, list[Item]] = {}
        """The items each skip or stop accounts for."""

    def versions(self, item: Item) -> list[float]:
        """Frames of each transcript AsyncFlow was asked for this item (more than one if it was edited)."""
        versions = self._versions.get(item.tag)
        if versions is None:
            versions = self._versions[item.tag] = [frames_for(t) for t in self.transcripts if item.tag in t]
        return versions

    def told_channel(self, item: Item) -> int | None:
        assert item.conversation is not None
        texts = item.conversation.texts
        told = TOLD_CHANNEL.match(texts[0]) if texts else None
        return int(told[1]) if told is not None else None

    def cuts(self, item: Item, segment: Segment) -> tuple[bool, list[Action]]:
        """What may have cut ``segment`` off: its own withdrawal (True), or these skips and stops."""

        def near(at: float, lag: float = CUT_LAG_S) -> bool:
            return -TAIL_S <= segment.end - at <= lag

        own = item.withdrawn_at is not None and near(item.withdrawn_at, self.withdrawal_lag(item))
        return own, [action for action in self.ledger.actions if near(action.at)]

    @staticmethod
    def withdrawal_lag(item: Item) -> float:
        return EDIT_LAG_S if "edit" in item.withdrawn_by else CUT_LAG_S

    def heard_as(self, item: Item, segment: Segment) -> Heard | None:
        key = (id(segment), id(item))
        if key not in self._fits:
            self._fits[key] = self.fit(item, segment)
        fit = self._fits[key]
        return fit if isinstance(fit, Heard) else None

    def fit(self, item: Item, segment: Segment) -> Heard | str:
        """Whether ``segment`` can be ``item`` (or why not): its member's voice, in its channel, after it was sent,
        as long as one of its versions (or shorter, if something cut it off); not starting after its delete or
        ignore-prefix edit, nor heard as it was before an edit that came well before it started."""
        if segment.member != item.member:
            return "another voice"
        if segment.first_loud < item.submitted:
            return "heard before it was sent"
        if item.kind == "say":
            if segment.channel != self.told_channel(item):
                return "not in the channel its member was told"
        elif segment.channel not in self.ledger.channels_of(item.member, item.submitted, segment.first_loud):
            return "not in its author's channel"
        versions = self.versions(item)
        if not versions:
            return "never sent to AsyncFlow"
        withdrawn = item.withdrawn_at
        if withdrawn is not None and segment.first_loud > withdrawn + START_MARGIN_S:
            return f"started after its {item.withdrawn_by}"
        if withdrawn is not None and segment.end > withdrawn + self.withdrawal_lag(item):
            return f"went on after its {item.withdrawn_by}"
        told = item.conversation.texts if item.conversation is not None else []
        if STOPPED in told:
            return "heard, but its member was told a /stop dropped it before it was spoken"
        if STOPPED_REST in told and not [a for a in self.cuts(item, segment)[1] if a.name == "stop"]:
            return "heard, and not cut off by a /stop, but its member was told it was stopped"
        if item.edits and segment.first_loud > item.edits[-1] + START_MARGIN_S:  # it can only be heard as edited
            edited = [frames_for(t) for t in self.transcripts if t.endswith(item.readable)]
            if not edited:
                return "heard, but AsyncFlow was never asked for its edited text"
            versions = edited[-1:]
        if min(abs(segment.loud - f) for f in versions) <= FULL_TOLERANCE:
            return Heard(segment, full=True)
        own, others = self.cuts(item, segment)
        if segment.loud < max(versions) - FULL_TOLERANCE and (own or others):
            return Heard(segment, full=False)
        return f"{segment.loud} frames, not {versions} and nothing cut it off"

    def match(self, heard: list[Segment], forbidden: set[tuple[int, int]]) -> dict[int, Heard]:
        """Each stretch of speech to the item it is. The server has one queue, played in order, so the stretches
        are some of the items, in the order they were sent (the server's commands and events are taken one at a
        time, in the order they came); of the ways to match them, the one fewest frames off. A stretch that can be
        none of them is a problem."""
        assigned: dict[int, Heard] = {}
        unexplained = 1000.0
        items, segs = self.ledger.items, heard
        best = [[0.0] * (len(items) + 1) for _ in range(len(segs) + 1)]
        step: list[list[str]] = [["item"] * (len(items) + 1) for _ in range(len(segs) + 1)]

        def not_heard(item: Item, j: int) -> float:
            """Leaving ``item`` unheard with ``segs[:j]`` heard before it: free if nothing was owed (refused,
            withdrawn, maybe not read), else a skip or stop must have dropped it before ``segs[j]`` began."""
            needs = self.needs(item, segs[j].first_loud if j < len(segs) else float("inf"))
            return 0.0 if needs is None or needs else unexplained / 2

        for i, item in enumerate(items, start=1):
            best[0][i] = best[0][i - 1] + not_heard(item, 0)
        for j in range(1, len(segs) + 1):
            best[j][0], step[j][0] = best[j - 1][0] + unexplained, "segment"
        for j, segment in enumerate(segs, start=1):
            for i, item in enumerate(items, start=1):
                best[j][i], step[j][i] = best[j][i - 1] + not_heard(item, j), "item"
                if best[j - 1][i] + unexplained < best[j][i]:
                    best[j][i], step[j][i] = best[j - 1][i] + unexplained, "segment"
                allowed = item.member == segment.member and (id(segment), id(item)) not in forbidden
                as_item = self.heard_as(item, segment) if allowed else None
                if as_item is not None:
                    cost = min(abs(segment.loud - f) for f in self.versions(item)) if as_item.full else 5.0
                    if best[j - 1][i - 1] + cost < best[j][i]:
                        best[j][i], step[j][i] = best[j - 1][i - 1] + cost, "both"
        j, i = len(segs), len(items)
        while j > 0:
            if step[j][i] == "item":
                i -= 1
            elif step[j][i] == "segment":
                segment = segs[j - 1]
                self.problems.append(f"audio nobody can account for: {self.describe(segment)}")
                client = self.soak.fake.voice_clients[segment.client]
                self.problems.append(
                    f"    client {segment.client}: {timeline(client, segment.first - 0.5, segment.last + 0.5)}"
                )
                for item in items:
                    if item.member == segment.member and abs(item.submitted - segment.first) < 4:
                        self.problems.append(f"    not {self.why_not(item, segment)}")
                j -= 1
            else:
                as_item = self.heard_as(items[i - 1], segs[j - 1])
                assert as_item is not None
                assigned[id(items[i - 1])] = as_item
                j, i = j - 1, i - 1
        return assigned

    def why_not(self, item: Item, segment: Segment) -> str:
        told = self.told_channel(item) if item.kind == "say" else None
        return (
            f"{item.tag} ({item.kind} at {item.submitted:.3f} from {item.channel}, told {told}, frames "
            f"{self.versions(item)}, withdrawn {item.withdrawn_by} {item.withdrawn_at}, edits {item.edits}, "
            f"texts {item.conversation.texts if item.conversation else None}): {self.fit(item, segment)}"
        )

    def describe(self, segment: Segment) -> str:
        names = dict(zip(self.soak.channels, ("lounge", "gaming", "study"), strict=True))
        near = [(a.name, round(a.at, 3)) for a in self.ledger.actions if -1 < segment.last - a.at < 1]
        return (
            f"{segment.loud} frames in {names.get(segment.channel, segment.channel)} from {segment.first:.3f} to "
            f"{segment.last:.3f}, voice of member {segment.member} ({segment.purity:.0%} in that voice); "
            f"skips and stops within 1 s: {near}"
        )

    def judge(self) -> dict[str, int]:
        """How every item ended, and every problem in ``problems``. A cut-off stretch of speech may fit more than one
        item: if a match leaves an item that no skip or stop can account for (or a skip that cut off and dropped
        nothing), the match is tried again without one of the stretches that could be another item's going to the
        item it went to (each such stretch in turn, then onwards from the best, and from matches as good), until
        everything is accounted for (a member would accept any story that fits) or :data:`MAX_ATTEMPTS` matches
        have been tried."""
        heard = self.heard = segments(self.soak.fake.voice_clients, self.soak.tones)
        best: tuple[list[str], dict[int, Heard], dict[int, float], dict[int, list[Item]], dict[str, int]] | None = None
        to_try: list[frozenset[tuple[int, int]]] = [frozenset()]
        tried: set[frozenset[tuple[int, int]]] = set()
        while to_try and len(tried) < MAX_ATTEMPTS:
            forbidden = to_try.pop(0)
            if forbidden in tried:
                continue
            tried.add(forbidden)
            self.problems = []
            outcomes, unplaced = self.attempt(heard, set(forbidden))
            idle_skips = self.idle_skips(heard)
            improved = best is None or len(self.problems) < len(best[0])
            as_good = improved or (best is not None and len(self.problems) == len(best[0]))
            if improved:
                best = (self.problems, self.assigned, self.deadlines, self.used, outcomes)
            if not unplaced and not idle_skips:
                break
            onwards = [forbidden | {pair} for pair in sorted(self.alternatives(unplaced, idle_skips) - forbidden)]
            if improved:  # search onwards from the best match so far first ...
                to_try = onwards + to_try
            elif as_good:  # ... and from one as good after the rest (two stretches may need undoing at once)
                to_try += onwards
        assert best is not None
        self.problems, self.assigned, self.deadlines, self.used, outcomes = best
        for segment in heard:
            if segment.purity < 0.8 and segment.loud - segment.purity * segment.loud > 2:
                self.problems.append(f"two voices in one stretch of speech: {self.describe(segment)}")
        for item in self.ledger.items:
            as_heard = self.assigned.get(id(item))
            if as_heard is not None and not as_heard.full:
                segment = as_heard.segment
                times = [a.at for a in self.ledger.actions] + ([item.withdrawn_at] if item.withdrawn_at else [])
                self.lags.append(min(segment.end - at for at in times if segment.end - at >= -TAIL_S))
        return outcomes

    def idle_skips(self, heard: list[Segment]) -> list[Action]:
        """The skips of the last match that said they skipped, but cut nothing off and dropped nothing (each is also
        a problem)."""
        idle = []
        for action in self.ledger.actions:
            if action.name != "skip" or self.used.get(id(action)):
                continue
            cut = [seg for seg in heard if -TAIL_S <= seg.end - action.at <= CUT_LAG_S]
            # ... or it skipped an item before it was heard, one that needn't have been heard (deleted since, or
            # perhaps never read), so it was not counted on the skip.
            unheard = [
                item
                for item in self.ledger.items
                if id(item) not in self.assigned
                and item.submitted < action.at < self.deadlines[id(item)]
                and (item.kind == "read" or self.told_channel(item) is not None)
            ]
            if not cut and not unheard:
                idle.append(action)
                self.problems.append(f"a /skip at {action.at:.3f} said it skipped, but nothing was cut off or dropped")
        return idle

    def alternatives(self, unplaced: list[Item], idle_skips: list[Action]) -> set[tuple[int, int]]:
        """The (stretch, item) pairs of the last match that another match could undo. For an item left unaccounted
        for: its member's stretches, and every cut-off stretch (which took a skip's or stop's share), heard from a
        little before it until a little after its deadline. For a skip that did nothing: the stretches heard just
        after it of the items sent before it (one of them may be what it skipped, and the stretch a later item)."""
        pairs = set()
        for other in self.ledger.items:
            heard = self.assigned.get(id(other))
            if heard is None:
                continue
            first = heard.segment.first
            for item in unplaced:
                deadline = self.deadlines.get(id(item), float("inf"))
                if (other.member == item.member or not heard.full) and item.submitted - 2 < first < deadline + 2:
                    pairs.add((id(heard.segment), id(other)))
            for skip in idle_skips:
                if other.submitted < skip.at < first < skip.at + 3:
                    pairs.add((id(heard.segment), id(other)))
        return pairs

    def attempt(self, heard: list[Segment], forbidden: set[tuple[int, int]]) -> tuple[dict[str, int], list[Item]]:
        """One match of what was heard to the items (never a pair in ``forbidden``), and how each item ended; and
        the items no skip or stop is left to account for."""
        assigned = self.assigned = self.match(heard, forbidden)
        # An item not heard was dropped, if at all, before any item sent after it was heard (one queue, in order).
        self.deadlines = {}
        deadline = float("inf")
        for item in reversed(self.ledger.items):
            self.deadlines[id(item)] = deadline
            if (as_heard := assigned.get(id(item))) is not None:
                deadline = min(deadline, as_heard.segment.first_loud)
        outcomes: dict[str, int] = {}
        needs: list[tuple[Item, list[Action]]] = []
        """Items explained only by a skip or a stop (each skip accounts for one, each stop for what it cleared)."""
        for item in self.ledger.items:
            outcome, shared = self.outcome(item, assigned.get(id(item)))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if shared is not None:
                needs.append((item, shared))
        return outcomes, self.share_out(needs)

    def chronology(self, start: float, end: float) -> list[str]:
        """Everything that happened between ``start`` and ``end``, in order: for looking into a failure."""
        names = self.soak.names
        where = dict(zip(self.soak.channels, ("lounge", "gaming", "study"), strict=True))
        events: list[tuple[float, str]] = []
        by_segment = {id(h.segment): item.tag for item in self.ledger.items if (h := self.assigned.get(id(item)))}
        for item in self.ledger.items:
            texts = item.conversation.texts if item.conversation else None
            events.append(
                (item.submitted, f"{item.tag} {item.kind} by {names[item.member]} in {where[item.channel]}: {texts}")
            )
            if item.withdrawn_at is not None:
                events.append((item.withdrawn_at, f"{item.tag} {item.withdrawn_by}"))
            events.extend((at, f"{item.tag} edited") for at in item.edits)
        for name, at, member, conversation in self.ledger.commands:
            events.append((at, f"/{name} by {names[member]}: {conversation.texts}"))
        for member, history in self.ledger.where.items():
            events.extend((at, f"{names[member]} moves to {where[c]}") for at, c in history[1:])
        events.extend((at, f"the bot's voice: {where.get(c or 0)}") for at, c in self.ledger.bot_where)
        for segment in self.heard:
            speaker = names.get(segment.member or 0)
            events.append(
                (
                    segment.first,
                    f"heard {segment.loud} frames of {speaker} in {where[segment.channel]} until {segment.end:.3f}: "
                    f"{by_segment.get(id(segment), '(nobody)')}",
                )
            )
        return [f"{at:.3f} {text}" for at, text in sorted(events) if start <= at <= end]

    def needs(self, item: Item, deadline: float) -> list[Action] | None:
        """For an item never heard: None if nothing was owed (refused, withdrawn, or maybe not read), else the skips
        and stops that could have dropped it (after it was sent, before ``deadline``: one queue, played in order)."""
        window = [a for a in self.ledger.actions if item.submitted < a.at < deadline]
        if item.kind == "read":
            return None if item.withdrawn_at is not None or not self.readable_for_sure(item) else window
        if item.conversation is None or self.told_channel(item) is None:
            return None
        if STOPPED in item.conversation.texts or STOPPED_REST in item.conversation.texts:
            return [a for a in window if a.name == "stop"]
        return self.not_told(item, window)

    def outcome(self, item: Item, heard: Heard | None) -> tuple[str, list[Action] | None]:
        """How ``item`` ended, checking it against what its member was told; and, when only a skip or a stop can
        account for it, which ones could."""
        needs = self.needs(item, self.deadlines.get(id(item), float("inf")))
        if item.kind == "say":
            return self.say_outcome(item, heard, needs)
        if heard is not None:
            segment = heard.segment
            if heard.full:
                edited = item.edits and segment.first_loud > item.edits[-1]
                return ("read: heard as edited" if edited else "read: heard"), None
            own, others = self.cuts(item, segment)
            return ("read: cut off by its delete or edit", None) if own else ("read: cut off", others)
        if item.withdrawn_at is not None:
            return "read: withdrawn, never heard", None
        if needs is None:
            return "read: not read (author not where the bot was)", None
        return "read: dropped by /stop or /skip", needs

    def say_outcome(
        self, item: Item, heard: Heard | None, needs: list[Action] | None
    ) -> tuple[str, list[Action] | None]:
        assert item.conversation is not None
        texts = item.conversation.texts
        if not texts:
            self.problems.append(f"{item.tag}: the member was never answered")
            return "say: unanswered", None
        first, rest = texts[0], texts[1:]
        if [t for t in rest if t not in (STOPPED, STOPPED_REST)]:
            self.problems.append(f"{item.tag}: the member was told {texts}")
        told = self.told_channel(item)
        if told is None:
            busy = BUSY.match(first)
            if busy is not None:
                if self.ledger.channels_of(item.member, item.submitted, item.submitted + 3) == {int(busy[1])}:
                    self.problems.append(f"{item.tag}: told the bot is busy in the member's own channel: {texts}")
                elif int(busy[1]) not in self.ledger.bot_channels(item.submitted - 0.5, item.submitted + 5):
                    self.problems.append(f"{item.tag}: told the bot is busy where it wasn't: {texts}")
            elif QUEUE_FULL.match(first) is None:
                self.problems.append(f"{item.tag}: refused with {texts}")
            if heard is not None or self.versions(item):
                self.problems.append(f"{item.tag}: refused ({first!r}) but sent to AsyncFlow or heard")
            return ("say: refused, busy elsewhere" if busy else "say: refused, queue full"), None
        if told not in self.ledger.channels_of(item.member, item.submitted, item.submitted + 3):
            self.problems.append(f"{item.tag}: told <#{told}>, but the member was in <#{item.channel}>")
        stopped = STOPPED in rest or STOPPED_REST in rest
        if heard is not None:
            _, others = self.cuts(item, heard.segment)
            if heard.full:
                return "say: heard", None
            # Cut off by a /stop: its member is told (unless it was their own /stop).
            others = [a for a in others if a.name == "stop"] if stopped else self.not_told(item, others)
            return "say: cut off by /skip or /stop", others
        assert needs is not None
        return ("say: dropped by /stop, told" if stopped else "say: dropped by /skip (or by its member's /stop)"), needs

    @staticmethod
    def not_told(item: Item, actions: list[Action]) -> list[Action]:
        """What can have cut off or dropped a /say whose member heard nothing of it: a /skip, or their own /stop."""
        return [a for a in actions if a.name == "skip" or a.member == item.member]

    def readable_for_sure(self, item: Item) -> bool:
        """The author was where the bot was (or was joining) when they posted, and both stayed a while."""
        end = item.submitted + READ_WINDOW_S
        return self.ledger.bot_channels(item.submitted, end) == {item.channel} and self.ledger.channels_of(
            item.member, item.submitted, end
        ) == {item.channel}

    def share_out(self, needs: list[tuple[Item, list[Action]]]) -> list[Item]:
        """Each skip accounts for one item, each stop for as many as it said it cleared (a bipartite matching)."""
        slots = self.used = {id(a): [] for a in self.ledger.actions}

        def place(item: Item, candidates: list[Action], seen: set[int]) -> bool:
            for action in candidates:
                key = id(action)
                if key in seen:
                    continue
                seen.add(key)
                if len(slots[key]) < action.capacity:
                    slots[key].append(item)
                    return True
                for other in list(slots[key]):
                    other_candidates = next(c for i, c in needs if i is other)
                    if place(other, [a for a in other_candidates if id(a) != key], seen):
                        slots[key].remove(other)
                        slots[key].append(item)
                        return True
            return False

        unplaced = []
        for item, candidates in needs:
            if not place(item, candidates, set()):
                unplaced.append(item)
                self.problems.append(
                    f"{item.tag} ({item.kind} by {item.member} at {item.submitted:.3f}, told "
                    f"{item.conversation.texts if item.conversation else None}) was neither heard in full "
                    f"nor withdrawn, and no skip or stop is left to account for it (skips/stops after it, before "
                    f"{self.deadlines[id(item)]:.3f}: {[(a.name, round(a.at, 3)) for a in candidates]})"
                )
                self.problems[-1] += "".join(  # one problem: attempts are compared by how many they leave
                    f"\n    not {segment.loud} frames at {segment.first:.3f}: {self.fit(item, segment)}"
                    for segment in self.heard
                    if segment.member == item.member and item.submitted < segment.first < self.deadlines[id(item)] + 1
                )
        return unplaced
