"""``pgjets generate``: labelled jets (or whole events) with Pythia 8 + FastJet.

The generators are :func:`pgjets.data.generate.generate_dataset` and
:func:`pgjets.data.generate_events.generate_event_dataset`; this module only
parses the flags, checks them and prints what was written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .._checks import check_no_repeats, check_out_folder, check_setting_int, user_path
from ..data.generate import OUTPUT_FORMATS, PROCESSES, export_dataset, generate_dataset
from ..data.generate_events import EVENT_PROCESSES, generate_event_dataset
from ..data.jet_io import read_manifest
from ..errors import UsageError


def add_generate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``pgjets generate`` options to ``parser``."""
    parser.add_argument("--process", dest="processes", action="append", choices=PROCESSES,
                        help="process to generate (repeatable; labels: qcd = 0, then gluon, quark, top, w, z)")
    parser.add_argument("--n-jets", type=int, help="jets per process")
    parser.add_argument("--events", action="append", choices=EVENT_PROCESSES,
                        help="generate whole events of this process instead of jets (repeatable; "
                             "label = order given; MPI off; see pgjets.data.generate_events)")
    parser.add_argument("--n-events", type=int, help="events per process (with --events)")
    parser.add_argument("--out", type=user_path, required=True,
                        help="output folder (--format generated) or file (landscape .h5, parquet)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="generated",
                        help="generated: pgjets folder (default); landscape: top-tagging landscape pandas HDF5 "
                             "(qcd and top only); parquet: awkward parquet")
    parser.add_argument("--fast", action="store_true", help="switch off multiparton interactions (faster)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--chunk-size", type=int, default=1000, help="jets per file (default 1000)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return parser


def run_generate(args: argparse.Namespace) -> int:
    """Run ``pgjets generate`` from parsed ``args``; returns the exit status."""
    events = getattr(args, "events", None)
    if events:
        if args.processes or args.n_events is None:
            raise UsageError("--events P needs --n-events N and no --process")
        check_no_repeats(events, "--events")
        check_setting_int(args.n_events, "--n-events")
        if getattr(args, "format", "generated") != "generated":
            raise UsageError(f"--events writes an event folder (parquet files and a manifest); "
                             f"--format {args.format} is for jets")
    elif not args.processes or args.n_jets is None:
        raise UsageError("give --process P and --n-jets N (or --events P and --n-events N)")
    else:
        check_no_repeats(args.processes, "--process")
        check_setting_int(args.n_jets, "--n-jets")
    # the flags both kinds share, checked once for both
    check_setting_int(args.workers, "--workers")
    check_setting_int(args.chunk_size, "--chunk-size")
    check_setting_int(args.seed, "--seed", minimum=0)
    if events:
        check_out_folder(args.out)
        return run_generate_events(args)
    fmt = getattr(args, "format", "generated")
    folder = Path(args.out)
    if fmt == "generated":
        check_out_folder(args.out)
    else:
        if folder.is_dir():
            raise UsageError(f"--out {folder} is a folder; --format {fmt} writes one file")
        if fmt == "landscape" and not set(args.processes) <= {"qcd", "top"}:
            raise UsageError("the landscape layout holds QCD (0) and top (1) jets only; "
                             f"got --process {' '.join(args.processes)}")
        folder = folder.with_name(f".{folder.name}.parts")  # the resumable chunks, removed at the end
    path = generate_dataset(args.processes, args.n_jets, folder, seed=args.seed, fast=args.fast,
                            workers=args.workers, chunk_size=args.chunk_size,
                            progress=getattr(args, "progress", True))
    manifest = read_manifest(path)
    if fmt != "generated":
        import shutil

        export_dataset(path, args.out, fmt)
        shutil.rmtree(path)
        print(f"wrote {manifest['n_jets_total']} jets ({', '.join(manifest['label_names'])}) "
              f"in the {fmt} layout to {args.out}")
        return 0
    print(f"wrote {manifest['n_jets_total']} jets ({', '.join(manifest['label_names'])}) "
          f"in {len(manifest['files'])} files to {path}")
    return 0


def run_generate_events(args: argparse.Namespace) -> int:
    """``pgjets generate --events PROCESS ...``; returns the exit status."""
    path = generate_event_dataset(args.events, args.n_events, args.out, seed=args.seed, fast=True,
                                  workers=args.workers, chunk_size=args.chunk_size,
                                  progress=getattr(args, "progress", True))
    manifest = read_manifest(path)
    print(f"wrote {manifest['n_events_total']} events ({', '.join(manifest['label_names'])}) "
          f"in {len(manifest['files'])} files to {path}")
    return 0


__all__ = ["add_generate_arguments", "run_generate", "run_generate_events"]
