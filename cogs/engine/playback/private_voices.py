"""Members' cloned voices are theirs alone: who may see a voice in a list, and who may speak with it.

AsyncFlow lists every clone of the bot's account among its voices (``voice_type`` CUSTOM), so each list and each
choice goes through here. A voice is private when AsyncFlow calls it CUSTOM or the store knows it as a member's
clone; a private voice is offered to, and usable by, only the member who cloned it, and never as a server voice
(``asker`` None).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..asyncflow.models import Voice
from ..asyncflow.voices import MAX_CHOICES, VoiceCatalog
from ..store.models import PreferencesStore


async def hidden_from(voices: Sequence[Voice], store: PreferencesStore, asker: int | None) -> set[str]:
    """The ids among ``voices`` that ``asker`` must not see: every private voice that is not their own clone."""
    owners = await store.clone_owners([voice.id for voice in voices])
    return {
        voice.id
        for voice in voices
        if (voice.custom or voice.id in owners) and (asker is None or owners.get(voice.id) != asker)
    }


async def may_use(voice: Voice, store: PreferencesStore | None, asker: int | None) -> bool:
    """Whether ``asker`` (None: the server, as its server voice) may speak with ``voice``. Without a store
    (``python -m bot say``) no voice is anyone's own, so no CUSTOM voice may be used."""
    if store is None:
        return not voice.custom
    return not await hidden_from([voice], store, asker)


async def visible_voices(
    catalog: VoiceCatalog, store: PreferencesStore, typed: str, asker: int | None, *, limit: int = MAX_CHOICES
) -> list[Voice]:
    """What a voice autocomplete offers ``asker``: the catalog's matches for ``typed``, others' clones left out."""
    hidden = await hidden_from(await catalog.voices(), store, asker)
    return await catalog.search(typed, limit=limit, hidden=hidden)
