"""Trio I/O on the non-blocking sockets opened inside namespaces (AF_PACKET radios, uplinks).

Trio's own socket wrapper wants sockets it created; these are made in another namespace by a
thread that entered it, so they are driven here with ``wait_readable``/``wait_writable``.
Closing a socket (after ``trio.lowlevel.notify_closing``) ends a pending receive with
``trio.EndOfChannel``, so ``async for`` over a radio or an uplink simply stops.
"""

from __future__ import annotations

import socket
from typing import Any

import trio


async def recv(sock: socket.socket, size: int = 65536) -> bytes:
    """The next frame or datagram of ``sock``; ``trio.EndOfChannel`` once it is closed."""
    while True:
        try:
            return sock.recv(size)
        except BlockingIOError:
            try:
                await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError:
                raise trio.EndOfChannel from None
        except OSError:  # closed under us (EBADF)
            raise trio.EndOfChannel from None


async def send(sock: socket.socket, data: bytes, dest: Any = None) -> None:
    """Send ``data`` (to ``dest`` when given), waiting while the socket's buffer is full."""
    await trio.lowlevel.checkpoint()
    while True:
        try:
            if dest is None:
                sock.send(data)
            else:
                sock.sendto(data, dest)
            return
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)
