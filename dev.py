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

import hashlib
import os
import subprocess
import sys
import venv
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
    if sys.version_info < (3, 11):
        sys.exit("tenantbill needs Python 3.11 or newer")
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


def test(*args: str) -> None:
    setup()
    run(PY, "-m", "pytest", *args)


def lint() -> None:
    setup()
    run(BIN / "ruff", "check", "src", "tests", "examples", "benchmarks", "dev.py")
    run(BIN / "ruff", "format", "--check", "src", "tests", "examples", "benchmarks", "dev.py")
    run(BIN / "mypy", "--strict", "src")


def docs() -> None:
    setup()
    run(BIN / "mkdocs", "build", "--strict", "--site-dir", str(ROOT / ".site"), env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


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


COMMANDS = {"demo": demo, "test": test, "lint": lint, "docs": docs, "examples": examples,
            "bench": bench, "ci": ci, "setup": setup}  # fmt: skip

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])  # type: ignore[operator]
