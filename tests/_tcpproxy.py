"""A loopback TCP forwarder that a test can cut, black-hole and restore, to simulate a lost
database: `cut()` is a link that fails loudly (connections reset, new ones refused),
`blackhole()` one that goes silent (everything accepted, nothing forwarded, nothing
answered — a partition or a dropped route, which only a client-side deadline notices)."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target.

    `cut()` drops every connection and refuses new ones. `blackhole()` keeps accepting, but
    from then on forwards nothing in either direction, on the connections open now and on
    new ones (their bytes are read and thrown away). `restore()` forwards new connections
    again; connections that were black-holed stay silent (their path is gone) until an end
    closes them."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._conns: list[socket.socket] = []
        self._silent: set[socket.socket] = set()
        self._blackhole = False
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self.accepted = 0
        """Connections accepted so far (forwarded or not)."""
        self.restore()

    def restore(self) -> None:
        """Forward new connections again (listening again after a cut)."""
        with self._lock:
            self._blackhole = False
        if self._server is not None:
            return
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(128)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def blackhole(self) -> None:
        """Go silent: accept, never forward, never answer (see the class docstring)."""
        with self._lock:
            self._blackhole = True
            self._silent.update(self._conns)

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with self._lock:
                if self._server is not server:  # cut while this one was accepted
                    client.close()
                    return
                self.accepted += 1
                silent = self._blackhole
                if silent:
                    self._conns.append(client)
                    self._silent.add(client)
            if silent:  # swallow what the client sends; connect nowhere
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._server is not server:  # cut while we connected: close, not leak
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
                if self._blackhole:  # black-holed while we connected
                    self._silent.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _swallow(self, src: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while src.recv(65536):
                pass

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if src in self._silent or dst in self._silent:
                    continue  # black-holed: the bytes vanish
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not (src in self._silent or dst in self._silent):
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every open connection and stop accepting new ones."""
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
            self._silent.clear()
            self._blackhole = False
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        """Stop for good."""
        self.cut()
