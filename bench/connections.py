"""How many speech downloads the shared ``AsyncFlowClient`` can have open at once, and what the next one waits.

``python -m bench.connections [--requests 150] [--seconds 20] [--hold 5]``

Every server that speaks holds one HTTP connection to AsyncFlow for as long as its download runs, and with
the read-ahead bounded that is nearly as long as the speech plays. This opens ``--requests`` speech
requests at once through one client (the stand-in in a child process, real speech at 3x real time), reads
each one's first audio, holds them all open for ``--hold`` seconds (as playing servers would), then closes
them, and reports how long each request took to its first audio. No audio is played: this measures the
client's connection pool, not CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from bench.first_audio import text_for
from bench.stand_in import ServerProcess
from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.errors import AsyncFlowError
from cogs.engine.config import AsyncFlowSettings

API_KEY = "sk_test_valid_key"


async def one(client: AsyncFlowClient, text: str, hold: asyncio.Event) -> float | str:
    """Seconds to the first audio, or the error the request ended with."""
    started = time.perf_counter()
    try:
        response = await client.open_speech(text)
    except AsyncFlowError as error:
        return f"{type(error).__name__}: {error}"
    first = time.perf_counter() - started
    async with response:
        await hold.wait()
    return first


async def run(base_url: str, requests: int, seconds: float, hold_s: float) -> list[float | str]:
    settings = AsyncFlowSettings(base_url=base_url, endpoint="file", max_retries=0)
    client = AsyncFlowClient(settings, API_KEY)
    hold = asyncio.Event()
    try:
        tasks = [asyncio.ensure_future(one(client, text_for(seconds), hold)) for _ in range(requests)]
        await asyncio.sleep(hold_s)
        hold.set()
        return list(await asyncio.gather(*tasks))
    finally:
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.connections", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each requested utterance")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds every opened download is kept open")
    args = parser.parse_args(argv)
    with ServerProcess(["--realtime-factor", "3", "--ms-per-char", "50"]) as server:
        results = asyncio.run(run(server.base_url, args.requests, args.seconds, args.hold))
    times = sorted(result for result in results if isinstance(result, float))
    errors = [result for result in results if isinstance(result, str)]
    print(f"\n{args.requests} speech requests at once through one AsyncFlowClient, each held open {args.hold:g} s:")
    if times:
        within = sum(1 for value in times if value < 1.0)
        print(
            f"  first audio within 1 s: {within}; median {1000 * times[len(times) // 2]:.0f} ms, "
            f"slowest {1000 * times[-1]:.0f} ms"
        )
    if errors:
        print(f"  failed: {len(errors)} (e.g. {errors[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
