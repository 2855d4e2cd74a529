"""Is a TCP port free, and if not, who holds it (read from /proc on Linux)."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from services.shared.config import parse_address

_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def taken(address: str) -> bool:
    """Whether binding `address` (host:port) fails because something else holds it."""
    host, port = parse_address(address, "address")
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the services bind: a port in TIME_WAIT after a clean stop is free to them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def holder(port: int, proc: Path = Path("/proc")) -> str:
    """ "pid N (command line)" of the process listening on `port`, or "" when not visible
    (another user's process, another network namespace, or not Linux)."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return ""
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return f"pid {pid_dir.name} ({_command(pid_dir)})"
    return ""


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == _LISTEN
                and int(fields[1].rsplit(":")[1], 16) == port
            ):
                inodes.add(fields[9])
    return inodes


def _command(pid_dir: Path, limit: int = 80) -> str:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        return "?"
    text = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    return text if len(text) <= limit else text[: limit - 1] + "…"
