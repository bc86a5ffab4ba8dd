"""The `coffre` command line."""

import logging
import sys

import typer

from coffre.cli.app import app
from coffre.cli.runner import run

__all__ = ["app", "main"]


def main() -> None:
    # Unexpected errors are logged (type, reference and frames only) and never echoed twice.
    logging.getLogger("coffre").addHandler(logging.NullHandler())
    logging.getLogger("coffre").propagate = False
    sys.exit(run(typer.main.get_command(app)))
