"""docs/architecture.md stays true: every owner it names exists, and the layers it lists are the
ones the import-linter contracts enforce."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text()


def _section(title: str) -> str:
    start = DOC.index("## " + title)
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def owners() -> list[tuple[str, str]]:
    rows = re.findall(r"^\| (.+?) \| `([^`]+)` \|$", _section("Who owns what"), re.M)
    return [(concern, path) for concern, path in rows if concern != "concern"]


def test_the_ownership_table_names_at_least_twelve_concerns_each_owned_by_an_existing_file() -> None:
    rows = owners()
    assert len(rows) >= 12
    missing = [path for _, path in rows if not (ROOT / path).exists()]
    assert missing == []
    assert len({concern for concern, _ in rows}) == len(rows), "a concern listed twice"


def test_the_layers_in_the_doc_are_the_layers_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    documented = re.findall(r"^\| \d \| `([a-z/]+)/` \|", _section("The layers"), re.M)
    # The doc lists bottom to top, from devices/protocols (its own contract) upward.
    assert [p.replace("/", ".") for p in documented][1:] == list(reversed(contract["layers"]))
