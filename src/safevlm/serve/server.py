"""Run the app with uvicorn: in the foreground (``safevlm serve``) or in a thread.

:class:`ServerThread` lets a process serve a backend on a loopback port while it
keeps working, e.g. to evaluate through the OpenAI client what it serves, or to
test the real HTTP path.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import Any, Self

import uvicorn
from fastapi import FastAPI

from safevlm.errors import SafeVLMError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(app: FastAPI, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl-C), one JSON log line per request on stderr.

    uvicorn's own access log is off: the request lines (:mod:`safevlm.serve.gate`)
    say more (tokens, batch, queue wait) and never carry image bytes.
    """
    from safevlm.serve.gate import request_log

    if not request_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        request_log.propagate = False
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=5)


class ServerThread:
    """``with ServerThread(app) as srv: ... srv.base_url ...`` -- uvicorn in a daemon thread.

    Waits until the socket accepts connections; on exit asks uvicorn to stop and
    waits (bounded) for the thread, so tests do not leak servers or ports.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int | None = None, log_level: str = "warning",
                 startup_timeout_s: float = 20.0):
        self.host, self.port = host, port or free_port(host)
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level=log_level,
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn:{self.port}", daemon=True)
        self.startup_timeout_s = startup_timeout_s

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI API root (``.../v1``)."""
        return self.url + "/v1"

    def start(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise SafeVLMError(f"server on {self.url} did not start (port taken?)")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
