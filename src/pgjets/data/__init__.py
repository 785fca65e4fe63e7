"""Data: Monte Carlo jet generation, file readers and datasets."""

from .table import JetTable
from .generate import generate_jets, generate_dataset, PROCESSES
from .jet_io import write_jets, read_jets, read_manifest, dataset_files, count_jets
from .features import constituent_features, FEATURE_NAMES
from .jet_image import jet_image
from .jet_dataset import JetDataset
from .readers import (
    read_top_landscape, read_jetclass, read_jet_images, read_parquet_jets, read_quark_gluon, read_jetnet,
    write_parquet_jets, open_jets, detect_format, parquet_has_labels,
)
from .sources import Source, resolve_sources
from .pfnano import read_pfnano
from .delphes_jets import read_delphes_jets
from .writers import write_top_landscape, write_jetclass, write_quark_gluon, write_jetnet, write_nanoaod
from .inputs import run_datasets, input_record, check_inputs
from .event_dataset import (EventDataset, StreamedEventDataset, read_hzz_events, read_nanoaod_events,
                            stream_event_batches)
from .generate_events import generate_events, generate_event_dataset, read_events, EVENT_PROCESSES
from .molecule_dataset import MoleculeDataset
from .digits import DigitsGridDataset
from .smearing import truth_and_reco_sets
from .observables import jet_observables, nsubjettiness
from .efp import jet_efps, efp_padded, prime_multigraphs, efp_basis
from .truth_labels import from_w_labels, same_parent_labels, truth_batch
from .fingerprint import fingerprint, fingerprint_diff
from .splits import load_table, load_process, split_indices, split_positions

__all__ = [
    "DigitsGridDataset", "EVENT_PROCESSES", "EventDataset", "FEATURE_NAMES", "JetDataset",
    "JetTable", "MoleculeDataset", "PROCESSES", "Source", "StreamedEventDataset", "check_inputs",
    "constituent_features", "count_jets", "dataset_files", "detect_format", "efp_basis",
    "efp_padded", "fingerprint", "fingerprint_diff", "from_w_labels", "generate_dataset",
    "generate_event_dataset", "generate_events", "generate_jets", "input_record", "jet_efps",
    "jet_image", "jet_observables", "load_process", "load_table", "nsubjettiness", "open_jets",
    "parquet_has_labels",
    "prime_multigraphs", "read_events", "read_hzz_events", "read_jet_images", "read_jetclass",
    "read_jets", "read_manifest", "read_nanoaod_events", "read_pfnano", "read_delphes_jets", "read_parquet_jets", "read_quark_gluon", "read_jetnet", "read_top_landscape",
    "resolve_sources", "run_datasets", "same_parent_labels", "split_indices", "split_positions",
    "stream_event_batches", "truth_and_reco_sets", "truth_batch", "write_jetclass", "write_jets",
    "write_parquet_jets", "write_quark_gluon", "write_jetnet", "write_nanoaod", "write_top_landscape",
]
