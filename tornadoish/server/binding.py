"""Binding listening sockets: TCP (IPv4/IPv6), unix sockets, inherited fds, TLS
(layer: server)."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import stat
from typing import Any

from tornadoish.server.config import ServerConfig

__all__ = [
    "Address",
    "address_of",
    "bind_sockets",
    "format_address",
    "remove_unix_socket_files",
    "ssl_context",
    "unix_socket_files",
]

Address = tuple[str, int] | str
"""Where a socket listens: ``(host, port)`` for TCP, the path for a unix socket."""


def bind_sockets(config: ServerConfig, *, reuse_port: bool = False) -> list[socket.socket]:
    """Create the listening sockets ``config`` asks for: ``fd``, else ``uds``, else TCP.

    Binding happens at once (like Tornado's ``bind_sockets``) so that a port in use is
    reported before the app starts. ``reuse_port`` sets ``SO_REUSEPORT`` (worker
    processes sharing a port on Linux). Raises ``OSError`` with a one-line message.
    """
    if config.fd is not None:
        return [_adopt_fd(config.fd, config.backlog)]
    if config.uds is not None:
        return [_bind_unix(config.uds, config.backlog)]
    return _bind_tcp(config.host, config.port, config.backlog, reuse_port=reuse_port)


def _bind_tcp(host: str, port: int, backlog: int, *, reuse_port: bool) -> list[socket.socket]:
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise OSError(f"could not resolve host {host!r}: {exc.strerror}")
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6) or (family, sockaddr) in seen:
                continue
            seen.add((family, sockaddr))
            if port == 0 and sockets:
                # One port for all addresses of the host (localhost: 127.0.0.1 and ::1).
                sockaddr = (sockaddr[0], sockets[0].getsockname()[1], *sockaddr[2:])
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if os.name != "nt":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                # Keep "::" from claiming the IPv4 port too, so both can be bound.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(sockaddr)
            except OSError as exc:
                where = format_address((str(sockaddr[0]), int(sockaddr[1])))
                raise OSError(f"could not bind to {where}: {exc.strerror or exc}")
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(f"no IPv4 or IPv6 address for host {host!r}")
    return sockets


def _bind_unix(path: str, backlog: int) -> socket.socket:
    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(existing.st_mode):
            raise OSError(f"could not bind to unix:{path}: a file that is not a socket is there")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            # Nobody listens: a socket file left by a server that died. Safe to replace.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            raise OSError(f"could not bind to unix:{path}: another server is listening there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise OSError(f"could not bind to unix:{path}: {exc.strerror or exc}")
    sock.setblocking(False)
    return sock


def _adopt_fd(fd: int, backlog: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise OSError(f"could not use file descriptor {fd}: {exc.strerror or exc}")
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise OSError(f"could not use file descriptor {fd}: not a stream socket")
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def unix_socket_files(sockets: list[socket.socket]) -> dict[str, int]:
    """The socket files of ``sockets`` bound to a path, with their inode numbers."""
    files: dict[str, int] = {}
    for sock in sockets:
        if sock.family != socket.AF_UNIX:
            continue
        path = sock.getsockname()
        # Abstract (Linux) and unnamed sockets have no file.
        if isinstance(path, str) and path and not path.startswith("\0"):
            with contextlib.suppress(OSError):
                files[path] = os.stat(path).st_ino
    return files


def remove_unix_socket_files(files: dict[str, int]) -> None:
    """Remove each socket file that is still the one we bound (not a successor's)."""
    for path, inode in files.items():
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:
                os.unlink(path)


def ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.ssl_certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.ssl_certfile, config.ssl_keyfile)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise OSError(f"could not load the TLS certificate or key: {reason}")
    context.set_alpn_protocols(["http/1.1"])
    return context


def address_of(sock: socket.socket) -> Address:
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return str(name)
    return (str(name[0]), int(name[1]))


def format_address(address: Address, *, tls: bool = False) -> str:
    if isinstance(address, str):
        return f"unix:{address}"
    host, port = address
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"
