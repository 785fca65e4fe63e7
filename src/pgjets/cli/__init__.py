"""The ``pgjets`` command line.

Subcommands::

    pgjets generate --process top --process qcd --n-jets 10000 --out DIR [--fast] [--workers N]
    pgjets generate --events ttbar --events wjets --n-events 5000 --out DIR [--workers N]
    pgjets train --model particlenet (--data DIR | --generate N) --epochs E --out RUN [--config cfg.yaml]
                 [--val PATH] [--test PATH] [--split TRAIN VAL TEST]
    pgjets evaluate RUN [--data DIR] [--signal S] [--working-point CLASS=EFF] [--out DIR]
    pgjets demo [--out runs/demo] [--n-jets 4000] [--epochs 12]
    pgjets export RUN --onnx model.onnx [--checkpoint best|last] [--opset 18]

Every subcommand prints what it does and exits with status 0 on success, 1 on a
pgjets error (with the message, no traceback) and 2 on bad arguments (one line
on stderr: the flag or setting and what is wrong with it).  A full disk is
reported as ``no space left on <folder>`` (status 1); what was complete is kept.

Each command lives in its own module: :mod:`pgjets.cli.generate`,
:mod:`pgjets.cli.train` (``train`` and ``evaluate``), :mod:`pgjets.cli.demo`,
:mod:`pgjets.cli.export`: flags, checks of the flags, and the printed summary.
What they run is library code (:mod:`pgjets.data.generate`, :mod:`pgjets.run`,
:mod:`pgjets.export`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

from ..errors import PgjetsError, PgjetsWarning, UsageError


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block): exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: ``command -> (module of pgjets.cli, help)``; the module defines ``add_<command>_arguments``
#: and ``run_<command>``.  Modules are imported when the parser is built, not at ``import pgjets.cli``.
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("generate", "generate labelled jets with Pythia 8 + FastJet"),
    "train": ("train", "train a model on jets (generated on the spot or from DIR)"),
    "evaluate": ("train", "evaluate a trained run on its test data"),
    "demo": ("demo", "real top-vs-QCD tagging demo: generate, train, compare with a mass window"),
    "export": ("export", "export a trained run (ONNX)"),
}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="pgjets", description="Symmetry-aware graph learning for particle physics.")
    parser.add_argument("--version", action="version", version=f"pgjets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, (module, summary) in COMMANDS.items():
        commands = importlib.import_module(f"{__name__}.{module}")
        p = sub.add_parser(command, help=summary)
        getattr(commands, f"add_{command}_arguments")(p)
        p.set_defaults(func=getattr(commands, f"run_{command}"))
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        parser = build_parser()  # imports the command modules (torch, PyG): seconds, interruptible
    except KeyboardInterrupt:
        print("pgjets: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with _printed_warnings(args.command):
            return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"pgjets {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except PgjetsError as exc:
        print(f"pgjets {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the output piped into a command that stopped reading (| head)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except OSError as exc:
        from .._atomic import disk_full_error, is_disk_full

        if not is_disk_full(exc):
            raise
        msg = disk_full_error(Path(exc.filename), exc) if exc.filename else "no space left on the device"
        print(f"pgjets {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pgjets {args.command}: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _printed_warnings(command: str):
    """pgjets' own warnings (:class:`~pgjets.errors.PgjetsWarning`) printed as one line each,
    ``pgjets CMD: warning: ...``, every time; other warnings as Python shows them."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", PgjetsWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, PgjetsWarning):
                print(f"pgjets {command}: warning: {_one_line(message)}", file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
