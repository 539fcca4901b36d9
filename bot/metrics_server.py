"""``/metrics`` (Prometheus text) and ``/healthz`` over HTTP, on the bot's own event loop, when ``metrics.port`` is set.

Served with aiohttp (discord.py's own HTTP library, so no extra package) from the event loop the bot runs on:
a scrape reads the bot and the servers' queues on the thread that changes them, and the server starts and stops
with the bot. prometheus_client's ``start_http_server`` would run in a thread of its own, with no ``/healthz``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import AsyncIterator, Callable

import discord
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from cogs.engine.config import ConfigError, MetricsSettings

log = logging.getLogger(__name__)


def health(bot: discord.Client, closing: Callable[[], bool] = lambda: False) -> str | None:
    """Why ``bot`` can't serve members right now (``"starting"``, ``"closing"``, ``"gateway disconnected"``), or
    None when it is connected to Discord and ready."""
    if closing() or bot.is_closed():
        return "closing"
    if not bot.is_ready():
        return "starting"
    if isinstance(bot, discord.AutoShardedClient):
        down = sorted(shard_id for shard_id, shard in bot.shards.items() if shard.is_closed())
        if down:
            return "gateway disconnected (shards " + ", ".join(map(str, down)) + ")"
        return None
    if bot.ws is None or not bot.ws.open:
        return "gateway disconnected"
    return None


class MetricsServer:
    """The HTTP server; :meth:`start` it, :meth:`stop` it (or use :func:`serve_metrics`)."""

    def __init__(
        self,
        settings: MetricsSettings,
        bot: discord.Client,
        registry: CollectorRegistry,
        *,
        closing: Callable[[], bool] = lambda: False,
    ) -> None:
        if settings.port is None:
            raise ValueError("metrics.port is not set")
        self._host = settings.host
        self._port = settings.port
        self._bot = bot
        self._registry = registry
        self._closing = closing
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        """Listen; raises :class:`ConfigError` naming the key when the address can't be had."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, access_log=None)  # a scrape every 15 s is not news
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(self._cannot_listen(error)) from None
        self._runner = runner
        log.info("serving metrics at %s/metrics and health at %s/healthz", self.url, self.url)

    def _cannot_listen(self, error: OSError) -> str:
        where = f"{self._host}:{self._port}"
        if error.errno == errno.EADDRINUSE:
            return (
                f"metrics.port: {where} is already in use by another program: pick a free port "
                "(METRICS_PORT, or port under [metrics] in config.toml)"
            )
        if error.errno in (errno.EACCES, errno.EPERM):
            return f"metrics.port: not allowed to listen on {where}: use a port above 1023 (METRICS_PORT)"
        return (
            f"metrics.host: can't listen on {where} ({error.strerror or error}): use an address of this machine, "
            "127.0.0.1 or 0.0.0.0 (METRICS_HOST, or host under [metrics] in config.toml)"
        )

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self._registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        reason = health(self._bot, self._closing)
        if reason is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=reason + "\n")


@contextlib.asynccontextmanager
async def serve_metrics(
    settings: MetricsSettings,
    bot: discord.Client,
    registry: CollectorRegistry,
    *,
    closing: Callable[[], bool] = lambda: False,
) -> AsyncIterator[MetricsServer | None]:
    """Serve while the block runs, if ``settings.port`` is set (else do nothing and give None)."""
    if settings.port is None:
        yield None
        return
    server = MetricsServer(settings, bot, registry, closing=closing)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
