"""A throwaway PostgreSQL server for tests: initdb in a temporary folder, on 127.0.0.1 and a free port.

Uses Debian's binaries (/usr/lib/postgresql/<version>/bin, installed by .ci/run when
missing) or whatever `pg_ctl` is on PATH. PostgreSQL refuses to run as root, so as
root the server runs as the `postgres` user the Debian package creates. Nothing is
left behind: the server is stopped and its folder removed on exit.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator


def find_pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest Debian version first), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(os.path.realpath(found)).parent if found else None


def why_unavailable() -> str | None:
    """A reason to skip, or None when a server can be started."""
    pg_bin = find_pg_bin()
    if pg_bin is None or not (pg_bin / "initdb").exists():
        return ("PostgreSQL binaries not found (no /usr/lib/postgresql/*/bin/pg_ctl and no pg_ctl on PATH); "
                "install Debian's package: apt-get install -y postgresql")
    if os.geteuid() == 0 and not _user_exists("postgres"):
        return "running as root and there is no 'postgres' user to run the server as (PostgreSQL refuses root)"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed: pip install -e '.[dev]' (psycopg2-binary)"
    return None


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], as_postgres: bool, **kwargs) -> subprocess.CompletedProcess:
    if as_postgres:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield its SQLAlchemy URL (postgresql://tune@127.0.0.1:PORT/postgres); stop it."""
    pg_bin = find_pg_bin()
    assert pg_bin is not None, why_unavailable()
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="tinygrad-opt-pg-"))
    data, log = root / "data", root / "server.log"
    if as_postgres:
        shutil.chown(root, user="postgres")
    port = _free_port()
    try:
        _run([str(pg_bin / "initdb"), "-D", str(data), "-U", "tune", "-A", "trust", "-E", "UTF8", "--no-sync"],
             as_postgres)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        try:
            _run([str(pg_bin / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
                 as_postgres)
        except subprocess.CalledProcessError as err:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {err.stderr}\n{tail}") from err
        yield f"postgresql://tune@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                _run([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], as_postgres)
        shutil.rmtree(root, ignore_errors=True)
