"""``pgjets train`` and ``pgjets evaluate``: the flags and the printed summary.

The runs themselves (configuration, data, seeded fit, evaluation, run folder)
are :func:`pgjets.run.train_run` and :func:`pgjets.run.evaluate_run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .._checks import check_out_folder, user_path
from ..run import (best_checkpoint_note, check_argument_paths, evaluate_run, format_metrics, load_config,
                   parse_working_points, train_run)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=user_path, help="YAML file with run settings (flags override it)")
    p.add_argument("--model", help="model name (default particlenet_lite): particlenet, particlenet_lite, part, "
                                   "part_lite, pfn, efn, deepsets, set_transformer, gcn, gridcnn, lorentznet, "
                                   "particlenet_inv, particlenet_inv_lite; on events event_deepsets, "
                                   "event_transformer, event_gnn")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", action="append", metavar="PATH",
                     help="training jets: a generated folder, a data file (landscape .h5, JetClass .root, "
                          "CMS PFNano .root, quark/gluon .npz, JetNet .hdf5, parquet, jet images), a quoted glob; "
                          "repeatable; or whole events: a folder of pgjets generate --events, event parquet files, "
                          "or ROOT event files (NanoAOD, Delphes, EDM4hep, PHYSLITE, or --tree) given per class as "
                          "CLASS=PATH (e.g. --data ttbar='tt_*.root' --data wjets=wj.root)")
    src.add_argument("--generate", type=int, metavar="N", help="generate N jets per process now")
    p.add_argument("--process", dest="processes", action="append", help="process to generate (repeatable)")
    p.add_argument("--val", action="append", metavar="PATH",
                   help="validation jets or events (as --data, with its classes; default: a split of --data)")
    p.add_argument("--test", action="append", metavar="PATH",
                   help="test jets or events (as --data, with its classes; default: a split of --data)")
    p.add_argument("--collection", dest="collections", action="append", metavar="NAME",
                   help="event data: object collection that becomes graph nodes (repeatable; default Muon, "
                        "Electron, Jet, Photon, MET)")
    p.add_argument("--object-field", dest="object_fields", action="append", metavar="NAME",
                   help="event data: further object field read as a node feature where a collection has it, "
                        "e.g. btagDeepFlavB (repeatable)")
    p.add_argument("--tree", metavar="NAME",
                   help="event data: the ROOT tree of the events, read in NanoAOD naming (C_pt, C_eta, ... per "
                        "collection C, or members C.pt), e.g. mini of ATLAS Open Data with --collection lep "
                        "--collection jet (default: the tree of the file's layout: Events of NanoAOD, events of "
                        "H->ZZ or EDM4hep, Delphes, CollectionTree of PHYSLITE)")
    p.add_argument("--connectivity", choices=("full", "knn"),
                   help="event data: the edges of each event graph, full (every pair of objects, the default) "
                        "or knn (the --k nearest objects in eta-phi; fewer edges for large collections)")
    p.add_argument("--k", type=int, metavar="K", help="event data: neighbours per object with --connectivity knn "
                                                      "(default 8)")
    p.add_argument("--weight", metavar="FIELD[*FIELD...]",
                   help="event data: Monte Carlo event weights, a per-event branch or column (genWeight, "
                        "EventWeight) or a product and quotient (mcWeight*scaleFactor_PILEUP*XSection/SumWeights); "
                        "they weigh the loss and the metrics (default: unweighted)")
    p.add_argument("--weight-norm", dest="weight_norm", choices=("class", "total", "none"),
                   help="event data: scale the --weight weights to a mean of 1 per class (class, the default: "
                        "each class weighs as many events as it has), over all events (total), or not (none)")
    p.add_argument("--feature-set", help="input features: particlenet (with PID when the data have it), "
                                         "kinematic, angular; NAME_etasign (e.g. particlenet_etasign): "
                                         "delta eta times sign(eta_jet), as the published ParticleNet/ParT "
                                         "conversions")
    p.add_argument("--signal", help="signal class of a binary sample (default: the non-QCD class; quark for q/g)")
    p.add_argument("--working-point", dest="working_points", action="append", metavar="CLASS=EFF",
                   help="multi-class samples: signal efficiency at which the rejection of QCD is quoted for "
                        "CLASS (repeatable; default 0.5, and the ParT paper's 0.99 Hqql, 0.995 Tbl); binary "
                        "samples: SIGNAL=EFF adds a rejection to those at 0.3 and 0.5")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--split", nargs=3, type=float, metavar=("TRAIN", "VAL", "TEST"),
                   help="fractions of --data for training, validation and test (default 0.6 0.2 0.2; the parts "
                        "given as --val/--test files are not taken from --data)")
    p.add_argument("--max-jets", type=int, help="use at most this many jets (events, for event data) of --data")
    p.add_argument("--workers", type=int, help="generator processes")
    p.add_argument("--device", help="auto, cpu or cuda")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    p.add_argument("--ddp", action="store_true",
                   help="distributed data parallel under torchrun (gloo on CPU, nccl on GPU)")
    p.add_argument("--out", type=user_path, required=True,
                   help="run folder (an existing run with the same settings is resumed)")
    p.add_argument("--force", action="store_true",
                   help="start afresh in --out even if it holds a run with other settings")


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=user_path, help="run folder written by pgjets train")
    p.add_argument("--data", action="append", metavar="PATH",
                   help="evaluate on all jets of PATH (folder, file or glob; repeatable) instead of the test split")
    p.add_argument("--out", type=user_path,
                   help="folder for the metrics, scores and plots (default: the run folder for its test split; "
                        "RUN/eval/<name>/ for --data; RUN/eval/test-.../ with another --signal or --working-point)")
    p.add_argument("--signal", help="signal class of a binary sample (default: the run's)")
    p.add_argument("--working-point", dest="working_points", action="append", metavar="CLASS=EFF",
                   help="multi-class: signal efficiency of CLASS for its QCD rejection (repeatable; default: "
                        "the run's); binary: SIGNAL=EFF adds a rejection at that efficiency")
    p.add_argument("--tree", metavar="NAME",
                   help="event runs: the ROOT tree of the events of --data (default: the run's, see train --tree)")
    p.add_argument("--weight", metavar="FIELD[*FIELD...]|none",
                   help="event runs: the event weights of --data (default: the run's --weight; none: "
                        "unweighted, e.g. collision data)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=True,
                   help="no progress bar (shown only on a terminal)")


def run_train(args: argparse.Namespace) -> int:
    check_out_folder(args.out)
    cfg = load_config(args)
    force = bool(getattr(args, "force", False))
    if getattr(args, "ddp", False):
        from ..train.distributed import init_from_env, is_main_process

        rank, world = init_from_env()
        if rank == 0:
            print(f"DDP: {world} processes, global batch {world * cfg['batch_size']}")
        res = train_run(cfg, Path(args.out), force=force)
        if not is_main_process():
            return 0
    else:
        res = train_run(cfg, Path(args.out), force=force)
    print(f"test: {format_metrics(res['metrics'])}")
    note = best_checkpoint_note(Path(args.out))
    if note is not None:
        print(note)
    print(f"run folder: {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    if args.data is not None:
        check_argument_paths(args.data)  # a bad --data is a bad argument (exit 2), whatever the run folder holds
    res = evaluate_run(Path(args.run), data=args.data, out=getattr(args, "out", None),
                       signal=getattr(args, "signal", None),
                       working_points=parse_working_points(getattr(args, "working_points", None)),
                       progress=getattr(args, "progress", True), tree=getattr(args, "tree", None),
                       weight=getattr(args, "weight", None))
    label = "test" if args.data is None else " ".join(map(str, args.data))
    print(f"{label}: {format_metrics(res['metrics'])}")
    print(f"results: {res['out']}")
    return 0


__all__ = ["add_train_arguments", "add_evaluate_arguments", "run_train", "run_evaluate"]
