"""The one wrapper around every command: errors become one sentence and an exit code."""

from __future__ import annotations

import logging
import os
import sys
import traceback
import uuid
from collections.abc import Callable

from coffre.errors import CoffreError

log = logging.getLogger("coffre.cli")


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("COFFRE_DEBUG", "") not in ("", "0")


def _frames(exc: BaseException) -> str:
    # File, line and function only: an exception's message may quote the data it choked on.
    frames = traceback.extract_tb(exc.__traceback__)
    return " < ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in reversed(frames)
    )


def run(command: Callable[..., object], argv: list[str] | None = None) -> int:
    """Run the click command; return the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    debug = _debug_requested(argv)
    try:
        # Standalone mode: usage errors, --help, aborted prompts are click's to print; it
        # exits with SystemExit, which carries the code.
        command.main(args=argv, prog_name="coffre")  # type: ignore[attr-defined]
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print("Interrupted; nothing more was done.", file=sys.stderr)
        return 130
    except CoffreError as exc:
        if debug:
            traceback.print_exc()
        print(f"Error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 (the last resort: a reference, never a traceback)
        if debug:
            traceback.print_exc()
        ref = uuid.uuid4().hex[:10]
        log.error("unexpected %s (ref %s) at %s", type(exc).__name__, ref, _frames(exc))
        print(
            f"Error: something went wrong (ref {ref}); run again with --debug to see why.",
            file=sys.stderr,
        )
        return 2
    return 0
