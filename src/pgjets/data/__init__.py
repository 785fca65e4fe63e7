"""Data: Monte Carlo jet generation, file readers and datasets."""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "table": ["JetTable"],
    "generate": ["generate_jets", "generate_dataset", "PROCESSES"],
    "jet_io": ["write_jets", "read_jets", "read_manifest", "dataset_files", "count_jets"],
    "features": ["constituent_features", "FEATURE_NAMES"],
    "jet_image": ["jet_image"],
    "jet_dataset": ["JetDataset"],
    "readers": ["read_top_landscape", "read_jetclass", "read_jet_images", "read_parquet_jets",
                "read_quark_gluon", "write_parquet_jets", "open_jets", "detect_format"],
    "sources": ["Source", "resolve_sources"],
    "writers": ["write_top_landscape", "write_jetclass", "write_quark_gluon"],
    "inputs": ["run_datasets", "input_record", "check_inputs"],
    "event_dataset": ["EventDataset", "StreamedEventDataset", "read_hzz_events", "stream_event_batches"],
    "generate_events": ["generate_events", "generate_event_dataset", "read_events", "EVENT_PROCESSES"],
    "molecule_dataset": ["MoleculeDataset"],
    "digits": ["DigitsGridDataset"],
    "smearing": ["truth_and_reco_sets"],
    "observables": ["jet_observables", "nsubjettiness"],
    "efp": ["jet_efps", "efp_padded", "prime_multigraphs", "efp_basis"],
    "truth_labels": ["from_w_labels", "same_parent_labels", "truth_batch"],
    "fingerprint": ["fingerprint", "fingerprint_diff"],
    "splits": ["load_table", "load_process", "split_indices"],
})
