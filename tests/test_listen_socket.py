"""`interlock serve`'s listening socket: the connections it accepts send without Nagle's
delay. (A socket made by `socket.create_server` has protocol number 0, and asyncio then
leaves TCP_NODELAY off: every response on a kept-alive connection waited ~40 ms for the
client's delayed ACK — 52 ms per request at one client, against 7 ms on a new connection.)"""

from __future__ import annotations

import asyncio
import socket

from interlock.cli._uvicorn import listen


def test_accepted_connections_have_nodelay() -> None:
    sock = listen("127.0.0.1", 0, "test")
    port = sock.getsockname()[1]
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def main() -> None:
        # what uvicorn does with the sockets it is given
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        async with server:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            while not seen:  # the server's side runs on this loop: yield to it
                await asyncio.sleep(0)
            writer.close()

    asyncio.run(asyncio.wait_for(main(), 10))
    assert seen and seen[0] != 0


def test_listen_still_refuses_a_taken_port() -> None:
    first = listen("127.0.0.1", 0, "test")
    try:
        port = first.getsockname()[1]
        try:
            listen("127.0.0.1", port, "test")
        except SystemExit as exc:
            assert "cannot listen on 127.0.0.1" in str(exc)
        else:  # pragma: no cover
            raise AssertionError("a second socket bound the same port")
    finally:
        first.close()
