"""Write a new version of the notice phrase book: the preset dictionary the ledger compresses notice messages with.

A notice record keeps the parts its email is rendered from as zlib-compressed JSON (``store/ledger.py``). Most of it
is the same text in every notice of a kind (the sentences of ``overage/notices/*.py``), so zlib is given those
sentences as a preset dictionary: the renewal notice's message shrinks from about 410 to about 260 bytes, which keeps
a sent notice under 1 KB (one write unit, not two, issue 20).

The phrase book is data: every stored message names the dictionary it was compressed with (zlib's DICTID, the
Adler-32 of the dictionary), and reading one needs that exact dictionary. So a version is never edited once
deployed; when the notices' wording drifts far enough to matter, this writes the next version beside it
(``notice_phrases_v<N>.txt``) and ``store/ledger.py`` compresses with the newest while reading all of them.

Run: ``.venv/bin/python -m tools.notice_phrases <N>``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "layers" / "overage" / "overage"
LIMIT = 32 * 1024  # zlib's window: a dictionary longer than this is used only for its last 32 KiB
# The sources of a notice's text, the least frequent first: zlib finds a match at any distance in the window, but a
# nearer one costs fewer bits, and the renewal's invoice.issued is by far the most frequent notice.
SOURCES = (
    "notices/email_feedback.py",
    "notices/feedback.py",
    "notices/fair_use.py",
    "notices/plan_changes.py",
    "notices/settlement.py",
    "notices/excess_profiles.py",
    "domain/notice.py",
    "notices/renewal.py",
)


def literals(path: Path) -> list[str]:
    """The string constants of a module (the parts of f-strings too), without its docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) and id(node) not in docstrings else None
        if isinstance(text, str) and len(text) >= 4 and not text.isidentifier():
            found.append(text)
    return found


def phrase_book() -> bytes:
    phrases: dict[str, None] = {}
    for name in SOURCES:
        for text in literals(PACKAGE / name):
            phrases.pop(text, None)  # kept once, at its latest (most frequent) place
            phrases[text] = None
    book = "".join(phrases).encode()
    return book[-LIMIT:]


def main(version: str) -> int:
    target = PACKAGE / "store" / f"notice_phrases_v{int(version)}.txt"
    if target.exists():
        print(f"{target} exists: a phrase book is never rewritten (stored messages need it as it is)")
        return 1
    target.write_bytes(phrase_book())
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
