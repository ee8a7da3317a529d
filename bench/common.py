"""Helpers shared by the benchmark scripts (standard library only)."""

import os


def write(path, text):
    """Write `text` to `path` unless it already holds exactly that (so cargo does not
    rebuild a generated workspace needlessly)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
