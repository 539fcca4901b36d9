"""Each message the README's troubleshooting table quotes is one the bot really prints or says."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_quoted_symptom_is_in_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    rows = [
        line for line in table.splitlines() if line.startswith("| ") and not line.startswith(("| Symptom", "| ---"))
    ]
    assert len(rows) >= 10
    source = "\n".join(path.read_text() for folder in ("bot", "cogs") for path in (ROOT / folder).rglob("*.py"))
    quoted = [text for row in rows for text in re.findall(r"`([^`]+)`", row.split(" | ")[0]) if " " in text]
    assert len(quoted) >= 8
    missing = [text for text in quoted if not text.startswith("python -m bot") and text not in source]
    assert missing == []
