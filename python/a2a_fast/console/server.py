"""Running the console: the feed and the HTTP server on one event loop, on 127.0.0.1 by default.

:class:`ConsoleServer` is what ``a2a-fast console`` runs and what ``a2a-fast demo --console`` runs beside its agents::

    async with ConsoleServer(endpoints, TopicNames(prefix), port=8090) as console:
        print(console.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator

import uvicorn

from a2a_fast.config import ProtocolConfig
from a2a_fast.console import DEFAULT_PORT
from a2a_fast.console.app import create_app
from a2a_fast.console.feed import MeshFeed
from a2a_fast.console.model import DEFAULT_RETAINED_TASKS
from a2a_fast.errors import ConfigError
from a2a_fast.protocol.topics import TopicNames
from a2a_fast.stack import Endpoints

__all__ = ["ConsoleServer"]


class ConsoleServer:
    """The console of the mesh on ``topics``, served at ``http://host:port/`` (``port`` 0 picks a free one)."""

    def __init__(
        self,
        endpoints: Endpoints,
        topics: TopicNames,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        retained_tasks: int | None = DEFAULT_RETAINED_TASKS,
        config: ProtocolConfig | None = None,
        scrape_interval: float = 2.0,
    ) -> None:
        self.host = host
        self.port = port
        self.feed = MeshFeed(
            endpoints, topics, retained_tasks=retained_tasks, config=config, scrape_interval=scrape_interval
        )
        self._server: _Server | None = None
        self._serving: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> str:
        """Binds the port (ConfigError naming it when it is taken), starts the feed and serves; returns the URL."""
        self._socket = self._bind()
        self.port = self._socket.getsockname()[1]
        await self.feed.start()
        config = uvicorn.Config(
            create_app(self.feed), log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        server = _Server(config)
        self._server = server
        self._serving = asyncio.get_running_loop().create_task(server.serve(sockets=[self._socket]), name="console")
        while not server.started:
            if self._serving.done():
                await self.stop()
                raise ConfigError(f"console: the HTTP server on {self.url} did not start")
            await asyncio.sleep(0.02)
        return self.url

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            if error.errno == errno.EADDRINUSE:
                in_use = f"console: port {self.port} on {self.host} is in use (choose another with --port)"
                raise ConfigError(in_use) from None
            raise ConfigError(f"console: cannot listen on {self.host}:{self.port}: {error.strerror}") from None
        sock.listen(128)
        sock.set_inheritable(True)
        return sock

    async def stop(self) -> None:
        await self.feed.stop()  # ends the event streams, so open pages do not hold the shutdown
        server, serving = self._server, self._serving
        self._server = self._serving = None
        if server is not None:
            server.should_exit = True
        if serving is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None

    async def __aenter__(self) -> ConsoleServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class _Server(uvicorn.Server):
    """Leaves the process's signals alone: whoever runs the console (the command, the demo) handles Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
