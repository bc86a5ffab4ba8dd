"""Running `coffre` as a real process, and checking what an operator sees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
    env["COFFRE_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "coffre", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_one_sentence_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and last.endswith(".")
    return last
