#!/usr/bin/env python3
"""Set up the development environment and run the project's jobs (stdlib only).

python3 dev.py demo       # create .venv, install, run the demo on SQLite
python3 dev.py test       # create .venv, install, run the whole test suite
python3 dev.py lint       # ruff check, ruff format --check, mypy --strict
python3 dev.py docs       # mkdocs build --strict
python3 dev.py examples   # run every script in examples/
python3 dev.py bench      # the benchmark harness
python3 dev.py ci         # everything CI runs
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
EXTRAS = "dev,docs"


def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if result.returncode:
        sys.exit(result.returncode)


def setup() -> None:
    """Create .venv and install the package with its extras (skipped when up to date)."""
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".tenantbill-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "--quiet", "-e", f".[{EXTRAS}]")
    stamp.write_text(digest)


def demo(*args: str) -> None:
    setup()
    run(PY, "examples/demo.py", *args)


PG_BIN = Path(os.environ.get("TENANTBILL_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresServer:
    """A throwaway PostgreSQL server in a temporary directory: ``initdb``, then ``pg_ctl``.

    ``durable=False`` runs it with ``fsync=off`` (its data is thrown away).
    The tests that crash and restart the server use :meth:`stop`,
    :meth:`start` and :meth:`restart`; :meth:`remove` stops it for good and
    deletes its files. PostgreSQL refuses to run as root, so as root the
    server runs as the ``postgres`` user.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.directory = Path(tempfile.mkdtemp(prefix="tenantbill-pg-"))
        if self._as_user:
            shutil.chown(self.directory, "postgres", "postgres")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=100"
        )
        if not durable:
            self._options += " -c fsync=off"
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.directory / "db"),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run([*self._as_user, *args], check=check, stdout=subprocess.DEVNULL)

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "db"), *args, check=check)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._pg_ctl("-o", self._options, "-l", str(self.directory / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clients disconnected, a clean shutdown) or ``immediate`` (a crash)."""
        self._pg_ctl("-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the server is running (``pg_ctl status``)."""
        status = subprocess.run(
            [*self._as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "db"), "status"],
            stdout=subprocess.DEVNULL,
        )
        return status.returncode == 0

    def restart(self, mode: str = "fast") -> None:
        """Stop the server (``mode`` as for :meth:`stop`) and start it again."""
        self.stop(mode)
        self.start()

    def remove(self) -> None:
        """Stop the server if it runs and delete its files."""
        self._pg_ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def postgres(*, durable: bool = False, reuse: bool = True) -> Iterator[str | None]:
    """Start a throwaway PostgreSQL for the test run and stop it after; yields its URL.

    The test server runs with ``fsync=off`` (its data is thrown away);
    ``durable=True`` keeps PostgreSQL's own defaults (``fsync`` and
    ``synchronous_commit`` on), as a production server runs. With ``reuse``,
    a server named by ``TENANTBILL_PG_URL`` is used instead of starting one.

    Yields ``None`` (and the PostgreSQL tests skip, saying why) when the server
    binaries are not installed. PostgreSQL refuses to run as root, so as root
    the server runs as the ``postgres`` user.
    """
    if reuse and os.environ.get("TENANTBILL_PG_URL"):
        yield os.environ["TENANTBILL_PG_URL"]
        return
    if not (PG_BIN / "pg_ctl").exists():
        print(f"PostgreSQL not found in {PG_BIN}: the PostgreSQL tests will be skipped", flush=True)
        yield None
        return
    server = PostgresServer(durable=durable)
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


def system_tools() -> None:
    """Install the Debian packages some tests use when missing and possible.

    poppler-utils (pdftoppm) renders PDFs to images; spamassassin scores every
    kind of e-mail with its local rules (tests/test_invitation_mail.py).
    """
    tools = {"pdftoppm": "poppler-utils", "spamassassin": "spamassassin"}
    missing = [package for command, package in tools.items() if not shutil.which(command)]
    if not missing or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        subprocess.run(command, check=False, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test(*args: str) -> None:
    setup()
    system_tools()
    with postgres() as url:
        env = {**os.environ, **({"TENANTBILL_PG_URL": url} if url else {})}
        run(PY, "-m", "pytest", *args, env=env)


def lint() -> None:
    setup()
    run(BIN / "ruff", "check", "src", "tests", "examples", "benchmarks", "dev.py")
    run(BIN / "ruff", "format", "--check", "src", "tests", "examples", "benchmarks", "dev.py")
    run(BIN / "mypy", "--strict", "src")


def docs() -> None:
    setup()
    run(
        BIN / "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(ROOT / ".site"),
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def examples() -> None:
    setup()
    for script in sorted((ROOT / "examples").glob("*.py")):
        run(PY, script)


def bench(*args: str) -> None:
    setup()
    run(PY, "benchmarks/run.py", *args)


def ci() -> None:
    test()
    lint()
    examples()
    docs()


COMMANDS = {
    "demo": demo,
    "test": test,
    "lint": lint,
    "docs": docs,
    "examples": examples,
    "bench": bench,
    "ci": ci,
    "setup": setup,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])  # type: ignore[operator]
