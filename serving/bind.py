"""Which addresses this process serves on, for the open-mode guard.

``WEBCARE_HOST`` is only what `webcare serve` was asked for; ``uvicorn serving.app:app
--host 0.0.0.0`` never sets it. The guard reads uvicorn's own configuration of the running
server instead (host, ``--fd`` or ``--uds``), whichever way it was started, and resolves a
host name to every address it binds (IPv4 and IPv6).
"""

from __future__ import annotations

import gc
import ipaddress
import os
import socket
import sys

UNIX = "unix socket"


def is_loopback(address: str) -> bool:
    if address == UNIX:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def resolve(host: str) -> list[str]:
    """Every address a server binding ``host`` listens on ("" and None: all interfaces)."""
    if not host:
        return ["0.0.0.0", "::"]
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return [host]  # unresolvable: not provably loopback
    return sorted({str(info[4][0]) for info in infos})


def _fd_address(fd: int) -> list[str]:
    with socket.socket(fileno=os.dup(fd)) as sock:
        if sock.family == socket.AF_UNIX:
            return [UNIX]
        return [str(sock.getsockname()[0])]


def bound_addresses(fallback_host: str) -> list[str]:
    """The addresses of uvicorn's server in this process, or ``fallback_host``'s when this
    process is not run by uvicorn (tests building the app, other ASGI servers: for those the
    per-request check in ``serving.auth`` still refuses non-loopback connections)."""
    module = sys.modules.get("uvicorn.config")
    configs = [o for o in gc.get_objects() if isinstance(o, module.Config)] if module else []
    if not configs:
        return resolve(fallback_host)
    out: set[str] = set()
    for config in configs:
        if config.uds:
            out.add(UNIX)
        elif config.fd is not None:
            out.update(_fd_address(config.fd))
        else:
            out.update(resolve(config.host))
    return sorted(out)
