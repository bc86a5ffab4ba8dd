"""The README's FHIR API walkthrough works as written: a demo installation served by
`coffre serve`, and the README's shell block run by bash with curl, only its port
changed."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clihelpers import ok, run

ROOT = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"<!-- api-walkthrough -->\n```sh\n(.*?)```\n<!-- /api-walkthrough -->", re.S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("coffre serve did not start")


def documents(text: str) -> list[dict]:  # type: ignore[type-arg]
    """The JSON documents curl printed one after the other."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_walkthrough_reads_a_patient_and_shows_it_in_their_history(tmp_path):
    home = tmp_path / ".coffre"
    ok(run(home, "init", "--environment", "demo"))
    ok(run(home, "demo"))
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
    env |= {"COFFRE_HOME": str(home), "COFFRE_PORT": str(port)}
    with subprocess.Popen(
        [sys.executable, "-m", "coffre", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            wait_for(port, server)
            [script] = BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
            walked = subprocess.run(
                [
                    "bash",
                    "-euo",
                    "pipefail",
                    "-c",
                    script.replace("127.0.0.1:8000", f"127.0.0.1:{port}"),
                ],
                cwd=tmp_path,
                env={k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert walked.returncode == 0, walked.stderr
    patient, history = documents(walked.stdout)
    case = json.loads((home / "demo-cases.json").read_text(encoding="utf-8"))[0]
    assert (patient["resourceType"], patient["id"]) == ("Patient", case["patient_id"])
    assert history["resourceType"] == "Bundle"
    # No COFFRE_PUBLIC_ORIGIN: links name this machine on the port served.
    assert history["link"][0]["url"].startswith(f"http://localhost:{port}/fhir/AuditEvent?")
    newest = history["entry"][0]["resource"]
    assert {"code": "records:patient:read", "system": "urn:coffre:action"} in newest["subtype"]
    people = json.loads((home / "demo-credentials.json").read_text(encoding="utf-8"))
    [physician] = [p["account_id"] for p in people if p["username"] == case["as"]]
    assert physician in json.dumps(newest["agent"])
