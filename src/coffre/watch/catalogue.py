"""The rules Coffre ships (`coffre/watch/shipped/*.yml`), with an installation's own."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from coffre.watch.errors import RuleError

if TYPE_CHECKING:
    from coffre.watch.ruleset import RuleSet


def shipped_texts() -> list[str]:
    """The text of each shipped rule file, in name order."""
    folder = resources.files("coffre.watch") / "shipped"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yml")), key=lambda f: f.name)
    return [f.read_text(encoding="utf-8") for f in files]


def shipped_rules(*more: str, shipped: bool = True) -> RuleSet:
    """The shipped rules and the rule texts given (an installation's own files), compiled
    together so that a correlation of one file may refer to a rule of another."""
    from coffre.watch.ruleset import load_rules  # pySigma, imported when rules are loaded

    return load_rules(*(shipped_texts() if shipped else []), *more)


def rules_from(paths: Sequence[Path], *, shipped: bool = True) -> RuleSet:
    """The shipped rules (unless `shipped` is False) and those of these files, compiled
    together. Raises RuleError, naming the file that cannot be read or the rule refused."""
    texts = []
    for path in paths:
        try:
            texts.append(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            raise RuleError(f"The rule file {path} cannot be read as UTF-8 text.") from None
    return shipped_rules(*texts, shipped=shipped)
