"""Figures the test run writes into the README's security section.

Tests add to them as they run (`figures.add("faults_injected")`); at the end of a run that
passed and ran every test that contributes, conftest rewrites the block between the README's
markers. A partial run (`-k`, one file) or a failed one leaves the README as it is, so the
numbers there are always those of a whole, green run.
"""

import os
import re
from collections import Counter

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
START, END = "<!-- security-figures:start -->", "<!-- security-figures:end -->"

# key -> how the README says it. Every key must be reported by a whole run.
FIGURES = {
    "hostile_values": "hostile values in the corpus (`tests/data/hostile/`)",
    "hostile_families": "families of hostile values, each of at least 20",
    "form_fields": "form fields, enumerated from the registered forms and routes",
    "hostile_inputs": "hostile inputs tried against those fields (every value in every field)",
    "hostile_uploads": "hostile uploads tried (names and contents that lie)",
    "server_errors": "server errors (500) among them",
    "files_outside": "files written outside the upload folder",
    "xss_pages": "pages opened in Chromium showing stored script-like values",
    "xss_executed": "stored values that ran as script there",
    "login_throttled": "login attempts refused by the brute-force throttle",
    "faults_injected": "faults injected (disk full, database connection killed, worker killed)",
    "documents_checked": "documents checked file by file after faults and backup round trips",
    "documents_lost": "documents lost",
}

_counts: Counter = Counter()
_reported: set = set()


def add(key: str, n: int = 1) -> None:
    if key not in FIGURES:
        raise KeyError(f"unknown figure {key!r}: add it to tests/figures.py")
    _counts[key] += n
    _reported.add(key)


def report(key: str, n: int) -> None:
    """A figure that is a fact rather than a count of events (the corpus's size, say)."""
    if key not in FIGURES:
        raise KeyError(f"unknown figure {key!r}: add it to tests/figures.py")
    _counts[key] = max(_counts[key], n)
    _reported.add(key)


def complete() -> bool:
    return _reported >= set(FIGURES)


def render() -> str:
    lines = [
        START,
        "Written by the last whole `make test` run that passed:",
        "",
        "| Figure | Count |",
        "|---|---:|",
    ]
    lines += [f"| {text} | {_counts[key]:,} |" for key, text in FIGURES.items()]
    lines.append(END)
    return "\n".join(lines)


def write_readme() -> bool:
    with open(README, encoding="utf-8") as f:
        text = f.read()
    block = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not block.search(text):
        return False
    new = block.sub(lambda _m: render(), text)
    if new != text:
        with open(README, "w", encoding="utf-8") as f:
            f.write(new)
    return True
