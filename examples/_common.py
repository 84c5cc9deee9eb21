"""Helpers shared by the example scripts: command line, output folder, tables.

Every example is ``exNN_*.py`` with ``main(fast=False, out=None) -> dict``: it prints
the figures that support or refute one claim of the teaching module, saves PNG plots
into ``out`` (default ``examples/out/``) and returns the printed figures. ``fast=True``
is a smaller run for the tests.
"""

import argparse
import pathlib
from collections.abc import Callable, Sequence

from jaxnn.cli import _in_the_way

OUT = pathlib.Path(__file__).resolve().parent / "out"


def out_dir(out) -> pathlib.Path:
    """The folder for PNG files (created): ``out`` or ``examples/out/``.

    Raises ``NotADirectoryError`` naming ``out`` when it is an existing file or a
    broken symbolic link, or lies under one (``jaxnn.cli._in_the_way``, the check of
    ``jaxnn train --out``), before any work is done.
    """
    path = OUT if out is None else pathlib.Path(out)
    blocker = _in_the_way(path)
    if blocker is not None:
        p, kind = blocker
        raise NotADirectoryError(
            f"cannot write PNG files to {str(path)!r}: {str(p)!r} is {kind}, "
            "not a folder"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def fmt(value) -> str:
    """A number in 4 significant digits (scientific for very small or large)."""
    if isinstance(value, bool | str | int):
        return str(value)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.3e}"
    return f"{v:.4g}"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Print an aligned plain-text table with a title line."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [
        max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
        for i, h in enumerate(header)
    ]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def verdict(claim: str, holds: bool, evidence: str) -> None:
    """Print one line: does the measured evidence support the claim?"""
    print(f"\n[{'supported' if holds else 'REFUTED'}] {claim}: {evidence}")


def cli(main: Callable[..., dict], doc: str | None) -> None:
    """Parse ``--fast`` and ``--out DIR`` and run ``main``."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a small, quick run")
    parser.add_argument(
        "--out", default=str(OUT), help="folder for the PNG files (examples/out)"
    )
    args = parser.parse_args()
    try:  # a bad --out is a usage error: one line, exit code 2, no traceback
        out_dir(args.out)
    except OSError as error:
        if error.filename is None:  # ours: it names --out and the file in the way
            parser.error(str(error))
        parser.error(f"--out {args.out}: {error.strerror or error}")
    main(fast=args.fast, out=args.out)
