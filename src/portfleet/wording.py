"""English for messages: "1 host" / "2 hosts", "an audit run" / "a reboot run"."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def article(word: str) -> str:
    """'an' before a vowel sound as these words are spoken (audit, apply, unreachable), else 'a'."""
    return f"{'an' if word[:1].lower() in 'aeio' else 'a'} {word}"
