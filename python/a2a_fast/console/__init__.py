"""The web console of a mesh: read-only pages of its agents, tasks, negotiations, workflows and dead letters.

``a2a-fast console [--port 8090] [--topic-prefix P]`` serves it on 127.0.0.1. It reads the log without joining a
consumer group and never writes, so the mesh does not notice it:

* :mod:`~a2a_fast.console.model`: the view model, folded from observed records (tasks, sessions, dead letters,
  unreadable records, rates and latencies);
* :mod:`~a2a_fast.console.scrape`: the agents' ``/metrics`` read back;
* :mod:`~a2a_fast.console.feed`: following the topics, the directory and the metrics live, and the same view "as of"
  a past time read back from the log;
* :mod:`~a2a_fast.console.app`: the Starlette routes (the page, a JSON API, server-sent events);
* :mod:`~a2a_fast.console.server`: :class:`~a2a_fast.console.server.ConsoleServer`, the feed and the HTTP server on
  one event loop;
* ``static/``: the page, its style and its own small SVG charts (no build step, nothing fetched from elsewhere).

Serving needs Starlette and uvicorn (``pip install 'a2a-fast[console]'``); the model needs neither.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_PORT"]

DEFAULT_PORT: Final = 8090
"""Where ``a2a-fast console`` serves unless told otherwise (the agents' monitoring ports are 8001-8004)."""
