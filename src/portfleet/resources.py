"""Where the shipped templates and playbooks live: the repo checkout, or the installed package."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    # Installed wheel: copied into the package by setup.py. Editable/dev checkout: repo root.
    packaged = _PKG / name
    if packaged.is_dir():
        return packaged
    repo = _PKG.parent.parent / name
    return repo


def templates_dir() -> Path:
    return _find("templates")


def playbooks_dir() -> Path:
    return _find("playbooks")
