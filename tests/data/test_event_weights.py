"""Monte Carlo event weights of event datasets: read from parquet fields and ROOT branches, checked,
scaled per class (or in total), carried by every batch and item."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pgjets.data import EventDataset, StreamedEventDataset, generate_event_dataset, read_events
from pgjets.errors import DataFileError


@pytest.fixture(scope="module")
def weighted_files(tmp_path_factory):
    """ttbar events in a NanoAOD ROOT file and W+jets events in a parquet file, with ``genWeight``
    (NLO-like: 20 % negative) and a scale factor ``sf``."""
    import awkward as ak

    from pgjets.data import write_nanoaod

    out = tmp_path_factory.mktemp("weighted")
    events = read_events(generate_event_dataset(["ttbar", "wjets"], 40, out / "gen", seed=5, chunk_size=40,
                                                progress=False))
    rng = np.random.default_rng(0)
    gen = np.abs(rng.normal(2.0, 0.5, len(events))) * np.where(rng.random(len(events)) < 0.2, -1.0, 1.0)
    sf = rng.uniform(0.9, 1.1, len(events)).astype(np.float32)
    events = ak.with_field(ak.with_field(events, gen, "genWeight"), sf, "sf")
    label = ak.to_numpy(events.label)
    tt, wj = events[label == 0], events[label == 1]
    files = {"ttbar": write_nanoaod(tt, out / "tt.root", drop=()), "wjets": out / "wj.parquet"}
    ak.to_parquet(wj, files["wjets"])
    raw = np.r_[gen[label == 0] * sf[label == 0].astype(np.float64), gen[label == 1] * sf[label == 1]]
    return files, raw, int((label == 0).sum())


def test_weights_are_the_product_of_their_fields_scaled_to_a_mean_of_one_per_class(weighted_files):
    files, raw, n_tt = weighted_files
    ds = StreamedEventDataset(files, weight="genWeight*sf", chunk_size=16, shuffle_chunks=2)
    assert ds.weight == ("genWeight", "sf") and "weight='genWeight*sf'" in repr(ds)
    np.testing.assert_allclose(ds.weights(scaled=False), raw, rtol=1e-12)
    scaled = ds.weights()
    classes = ds.event_classes()
    assert np.array_equal(classes, np.r_[np.zeros(n_tt, int), np.ones(len(raw) - n_tt, int)])
    for c in (0, 1):  # a mean of 1 per class; the shape within the class kept
        assert scaled[classes == c].mean() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(scaled[classes == c] / raw[classes == c],
                                   (classes == c).sum() / raw[classes == c].sum(), rtol=1e-12)
    assert (scaled < 0).mean() == pytest.approx((raw < 0).mean())  # negative weights kept
    seen = torch.zeros(len(ds), dtype=torch.bool)
    for b in ds.batches(7, shuffle=True, seed=2):  # every batch carries the weights of its events
        torch.testing.assert_close(b.weight, torch.from_numpy(scaled[b.event_index.numpy()]).float())
        seen[b.event_index] = True
    assert seen.all()
    sub = ds.subset(np.arange(5, 40))
    b = next(iter(sub.batches(8)))
    torch.testing.assert_close(b.weight, torch.from_numpy(scaled[b.event_index.numpy()]).float())
    assert float(ds[3].weight) == pytest.approx(scaled[3], rel=1e-6)
    total = StreamedEventDataset(files, weight="genWeight*sf", weight_norm="total")
    assert total.weights().mean() == pytest.approx(1.0) and np.allclose(total.weights() / raw, len(raw) / raw.sum())
    as_stored = StreamedEventDataset(files, weight=["genWeight", "sf"], weight_norm="none")
    np.testing.assert_allclose(as_stored.weights(), raw, rtol=1e-12)
    assert StreamedEventDataset(files).weights() is None and "weight" not in next(iter(StreamedEventDataset(
        files).batches(4)))


def test_bad_weights_are_refused_naming_the_file(weighted_files, tmp_path):
    import awkward as ak

    files, raw, _ = weighted_files
    with pytest.raises(DataFileError, match=r"tt.root has no per-event field 'genweight'.*it has \['genWeight'\]"):
        StreamedEventDataset(files, weight="genweight")
    with pytest.raises(DataFileError, match="Muon_pt is not one number per event"):
        StreamedEventDataset(files, weight="Muon_pt")
    with pytest.raises(ValueError, match="empty field name"):
        StreamedEventDataset(files, weight="genWeight*")
    with pytest.raises(ValueError, match="weight_norm"):
        StreamedEventDataset(files, weight="genWeight", weight_norm="xsec")
    events = ak.from_parquet(files["wjets"])
    bad = np.asarray(events.genWeight).copy()
    bad[4] = np.nan
    ak.to_parquet(ak.with_field(events, bad, "genWeight"), tmp_path / "nan.parquet")
    with pytest.raises(DataFileError, match=r"nan.parquet: the event weight genWeight is nan at entry 4"):
        StreamedEventDataset({"ttbar": files["ttbar"], "wjets": tmp_path / "nan.parquet"}, weight="genWeight")
    neg = -np.abs(np.asarray(events.genWeight))
    ak.to_parquet(ak.with_field(events, neg, "genWeight"), tmp_path / "neg.parquet")
    with pytest.raises(DataFileError, match=r"of class wjets sum to -[0-9.]+ \(\d+ events\)"):
        StreamedEventDataset({"ttbar": files["ttbar"], "wjets": tmp_path / "neg.parquet"}, weight="genWeight")
    kept = StreamedEventDataset({"ttbar": files["ttbar"], "wjets": tmp_path / "neg.parquet"}, weight="genWeight",
                                weight_norm="none")  # as stored: no sum to divide by
    assert (kept.weights(np.arange(len(kept) - 3, len(kept))) < 0).all()


def test_the_h_to_zz_file_weights_in_memory_and_streamed():
    """EventWeight of the H->ZZ sample: the same weights in EventDataset and StreamedEventDataset; scaled over
    all events, also those drop_empty leaves out; from_events takes a field or the weights themselves."""
    import uproot

    from pgjets.data.event_dataset import hzz_path

    raw = uproot.open(hzz_path())["events"]["EventWeight"].array(library="np").astype(np.float64)
    ds = EventDataset(weight="EventWeight", weight_norm="total")
    torch.testing.assert_close(ds.batch.weight, torch.from_numpy(raw * len(raw) / raw.sum()).float())
    assert ds[7].weight.shape == (1,) and float(next(iter(ds.batches(16))).weight[7]) == float(ds[7].weight)
    per_class = EventDataset(weight="EventWeight")  # classes of the default label, z_candidate
    y = per_class.labels.numpy()
    for c in (0, 1):
        assert per_class.batch.weight[y == c].double().mean() == pytest.approx(1.0, abs=1e-6)
    muons = EventDataset(collections=("Muon",), drop_empty=True, weight="EventWeight", weight_norm="total")
    kept = muons.batch.event_index.numpy()
    assert muons.num_dropped > 0
    torch.testing.assert_close(muons.batch.weight, torch.from_numpy(raw[kept] * len(raw) / raw.sum()).float())
    streamed = StreamedEventDataset(str(hzz_path()), label=None, weight="EventWeight", weight_norm="none")
    np.testing.assert_array_equal(streamed.weights(), raw)
    given = EventDataset.from_events(ds.events, label=y, weight=raw * 3, weight_norm="none")
    torch.testing.assert_close(given.batch.weight, torch.from_numpy(raw * 3).float())
    with pytest.raises(DataFileError, match="Muon is not one number per event"):
        EventDataset.from_events(ds.events, label=y, weight="Muon")


def test_weight_expressions_divide_and_bad_arrays_are_named(weighted_files):
    """F1*F2/F3 (ATLAS: mcWeight*...*XSection/SumWeights); arrays of the wrong length or jagged ones given to
    from_events are named as such; a subset's weights are its own events'."""
    import awkward as ak

    from pgjets.data.event_dataset import weight_expression, weight_fields

    files, raw, _ = weighted_files
    assert weight_fields(" genWeight * sf / sf ") == ("genWeight", "sf", "/sf")
    assert weight_expression(weight_fields("genWeight*sf/sf")) == "genWeight*sf/sf"
    with pytest.raises(ValueError, match="empty field name"):
        weight_fields("/sf")
    ds = StreamedEventDataset(files, weight="genWeight*sf/sf", weight_norm="none")
    gen = StreamedEventDataset(files, weight="genWeight", weight_norm="none").weights()
    np.testing.assert_allclose(ds.weights(), gen, rtol=1e-12)  # sf / sf = 1
    assert "weight='genWeight*sf/sf'" in repr(ds)
    with pytest.raises(DataFileError, match=r"no per-event field 'XSection'.*it has \['genWeight'"):
        StreamedEventDataset(files, weight="genWeight*XSection/sf")
    sub = ds.subset(np.arange(3, 30, 3))
    assert np.array_equal(sub.event_positions(), np.arange(3, 30, 3)) and np.allclose(sub.weights(), gen[3:30:3])
    events = ak.from_parquet(files["wjets"])
    y = np.zeros(len(events), np.int64)
    with pytest.raises(DataFileError, match=f"weight holds {len(events) + 1} values for {len(events)} events"):
        EventDataset.from_events(events, label=y, weight=np.ones(len(events) + 1))
    with pytest.raises(DataFileError, match="not one number per event"):
        EventDataset.from_events(events, label=y, weight=events["Jet_pt"] if "Jet_pt" in events.fields
                                 else events["Jet"].pt)


def test_a_class_without_positive_weight_in_a_split_is_refused_before_the_run(tmp_path, capsys):
    """Weighted metrics need a positive sum of weights per class in the validation and test parts: an NLO
    class positive overall can sum to 0 or less in a small split; refused before the run folder (exit 2)."""
    import awkward as ak

    from pgjets.cli import main
    from pgjets.data import write_nanoaod

    events = read_events(generate_event_dataset(["ttbar", "wjets"], 60, tmp_path / "gen", seed=2, progress=False))
    label = ak.to_numpy(events.label)
    tt, wj = events[label == 0], events[label == 1]
    w = np.full(len(tt), -1.0, np.float32)
    w[: len(tt) // 2] = 3.0  # positive in total, but a part of it is not
    write_nanoaod(ak.with_field(tt, w, "genWeight"), tmp_path / "tt.root", drop=())
    write_nanoaod(ak.with_field(wj, np.ones(len(wj), np.float32), "genWeight"), tmp_path / "wj.root", drop=())
    argv = ["train", "--model", "event_deepsets", "--data", f"ttbar={tmp_path / 'tt.root'}", "--data",
            f"wjets={tmp_path / 'wj.root'}", "--weight", "genWeight", "--epochs", "1", "--out", str(tmp_path / "r"),
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "of class ttbar in the test split" in err and "--split" in err and not (tmp_path / "r").exists()
