"""N bot processes starting at once against one empty PostgreSQL database: all open it, the schema is applied once.

Each process is a real ``python`` opening ``PostgresPreferences`` (what ``TTSEngine.start`` does), released
at the same instant; it reports how many migrations it applied and how long ``open()`` took. Needs a role
that may create databases (the bench makes a fresh one and drops it)::

    python -m bench.storage_startup --url "$TTS_TEST_POSTGRES_URL" --processes 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid

import asyncpg

from cogs.engine.store import postgres_schema
from cogs.engine.store.postgres import PostgresPreferences
from tests.store_backends import with_database


async def child(url: str) -> None:
    applied: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            applied.append(record.getMessage())

    logger = logging.getLogger(postgres_schema.__name__)
    logger.setLevel(logging.INFO)
    logger.addHandler(Count())
    print("ready", flush=True)  # imported and set up: wait for the word
    await asyncio.to_thread(sys.stdin.readline)
    woke = time.time()
    began = time.perf_counter()
    store = PostgresPreferences(url)
    await store.open()
    seconds = time.perf_counter() - began
    await store.update_guild(1, max_length=42)  # and the store works
    await store.close()
    print(json.dumps({"migrations": len(applied), "open_s": seconds, "woke": woke}))


async def main(url: str, processes: int) -> int:
    name = f"tts_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    target = with_database(url, name)
    try:
        command = [sys.executable, "-m", "bench.storage_startup", "--child", target]
        running = [
            await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
            for _ in range(processes)
        ]
        for process in running:  # every interpreter is up and imported before any of them opens the store
            assert process.stdout is not None
            assert (await asyncio.wait_for(process.stdout.readline(), timeout=120)).strip() == b"ready"
        for process in running:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
        results = []
        for process in running:
            out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
            results.append((process.returncode, json.loads(out) if process.returncode == 0 else None))
        check = await asyncpg.connect(target)
        version = await check.fetchval("SELECT version FROM schema_version")
        tables = await check.fetchval("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        await check.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    ok = [result for code, result in results if code == 0 and result is not None]
    applied = sum(result["migrations"] for result in ok)
    times = sorted(result["open_s"] * 1000 for result in ok)
    server = admin.get_server_version().major
    print(f"{processes} processes started at once against one empty database (PostgreSQL {server})")
    print(
        f"  opened: {len(ok)} of {processes}; migrations applied: {applied} in all (schema {version}, {tables} tables)"
    )
    late = (max(result["woke"] for result in ok) - min(result["woke"] for result in ok)) * 1000
    print(f"  released within {late:.0f} ms of one another")
    print(f"  open(): median {statistics.median(times):.0f} ms, slowest {times[-1]:.0f} ms")
    return 0 if len(ok) == processes and applied == postgres_schema.SCHEMA_VERSION else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a role that may create databases")
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child))
    else:
        sys.exit(asyncio.run(main(args.url, args.processes)))
