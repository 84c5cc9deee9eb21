"""The ``jaxnn`` command: ``check`` (the differential self-test), ``train``, ``diagnose``.

Exit codes: 0 on success, 1 when a check fails, 2 on bad arguments (one-line reason).
"""

import argparse
import json
import sys
from collections.abc import Sequence


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, exit 2
        raise UsageError(message)


# ### check ##########################################################################


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.1e}"


def cmd_check(args) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    from rich.console import Console
    from rich.table import Table

    from jaxnn import _selfcheck

    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    console = Console()
    backend = jax.default_backend()
    device = jax.devices()[0].device_kind
    table = Table(title=f"jaxnn check — backend {backend} ({device}), jax {jax.__version__}")
    for column in ("kind", "item", "dtype", "vs autodiff", "vs finite diff", "result"):
        table.add_column(column)
    rows = []
    for row in _selfcheck.run(dtypes):
        rows.append(row)
        result = "[green]pass[/green]" if row.passed else "[bold red]FAIL[/bold red]"
        if row.note:
            result += f" ({row.note})"
        table.add_row(row.category, row.item, row.dtype, _fmt(row.vs_autodiff), _fmt(row.vs_fd), result)
    console.print(table)
    failed = [r for r in rows if not r.passed]
    console.print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    if args.json:
        payload = {
            "backend": backend,
            "device": device,
            "jax_version": jax.__version__,
            "rows": [r._asdict() for r in rows],
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
    return 1 if failed else 0


# ### entry point ####################################################################


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = sub.add_parser("check", help="differential self-test of every backward rule")
    check.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    check.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except UsageError as e:
        print(f"jaxnn: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
