"""Local TCP ports that stand in for a broker that is down, for connection tests."""

from __future__ import annotations

import socket
import threading


class ClosingPort:
    """A port on 127.0.0.1 that counts the connections made to it and closes
    each at once: a server that is up but refuses to talk."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, name="closing-port", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return  # closed
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._socket.close()


class SilentPort:
    """A port on 127.0.0.1 whose connections complete (in the kernel's
    backlog) but are never read from or answered: a server that hangs."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self._socket.getsockname()[1]

    def close(self) -> None:
        self._socket.close()
