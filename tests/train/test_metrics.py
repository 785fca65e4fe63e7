from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.train import (
    accuracy, background_rejection, classification_report, confusion_matrix, multiclass_auc, roc_auc,
    roc_curve,
)


def gaussian_scores(n=20000, sep=2.0, seed=0):
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(n), np.zeros(n)]
    s = np.r_[rng.normal(sep, 1, n), rng.normal(0, 1, n)]
    return s, y


def test_auc_of_two_gaussians_matches_closed_form():
    s, y = gaussian_scores()
    # AUC = Phi(sep / sqrt(2)) for unit-variance Gaussians.
    expected = 0.5 * (1 + math.erf(2.0 / math.sqrt(2) / math.sqrt(2)))
    assert roc_auc(s, y) == pytest.approx(expected, abs=5e-3)


def test_background_rejection_matches_closed_form():
    from scipy.stats import norm

    s, y = gaussian_scores(n=1_000_000)
    for eff in (0.3, 0.5):
        cut = norm.ppf(1 - eff, loc=2.0)
        eps_b = 1 - norm.cdf(cut)
        assert background_rejection(s, y, eff) == pytest.approx(1 / eps_b, rel=0.05)


def test_perfect_separation_gives_infinite_rejection_and_unit_auc():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.8, 0.9])
    assert roc_auc(s, y) == 1.0
    assert background_rejection(s, y, 0.5) == float("inf")


def test_two_class_logits_are_accepted():
    s, y = gaussian_scores(n=1000)
    logits = torch.tensor(np.stack([np.zeros_like(s), s], 1))
    assert roc_auc(logits, torch.tensor(y)) == pytest.approx(roc_auc(s, y))
    fpr, tpr, _ = roc_curve(s, y)
    assert fpr[0] == 0 and tpr[-1] == 1


def test_accuracy_confusion_and_report():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])
    y = np.array([0, 1, 1, 1])
    assert accuracy(logits, y) == 0.75
    assert confusion_matrix(logits, y).tolist() == [[1, 0], [1, 2]]
    rep = classification_report(logits, y)
    assert set(rep) == {"accuracy", "auc", "rej@0.3", "rej@0.5"}


def test_multiclass_auc_is_high_for_good_classifier():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4))
    logits[np.arange(400), y] += 3
    assert multiclass_auc(logits, y) > 0.9
    assert 0.3 < multiclass_auc(rng.normal(size=(400, 4)), y) < 0.7


def test_bad_inputs():
    with pytest.raises(InputShapeError, match="both"):
        roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(InputShapeError, match="length"):
        roc_auc([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(NonFiniteError):
        roc_auc([0.1, float("nan")], [1, 0])
    with pytest.raises(ValueError, match="signal_efficiency"):
        background_rejection([0.1, 0.2], [0, 1], 0.0)


def test_signal_class_zero_flips_the_binary_roles():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    logits = np.stack([(1 - y) * 1.0 + rng.normal(0, 1.5, 400), np.zeros(400)], 1)  # class 0 is the signal
    flipped = np.stack([logits[:, 1], logits[:, 0]], 1)
    report = classification_report(logits, y, signal=0)
    same = classification_report(flipped, 1 - y)
    for key in ("auc", "rej@0.3", "rej@0.5"):
        assert report[key] == pytest.approx(same[key])
    assert report["auc"] > 0.6
    assert report["rej@0.3"] != pytest.approx(classification_report(logits, y)["rej@0.3"])


def test_multiclass_rejection_uses_the_part_score_and_working_points():
    from pgjets.data.readers import JETCLASS_LABELS
    from pgjets.train.metrics import format_rejection_table, multiclass_report, rejection_vs_background

    rng = np.random.default_rng(0)
    k, n = 10, 4000
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 2.0
    rep = multiclass_report(logits, y, JETCLASS_LABELS)
    assert set(rep) == {"accuracy", "auc", "auc_classes", "confusion_matrix", "label_names", "background",
                        "rejection"}
    cm = np.array(rep["confusion_matrix"])
    assert cm.shape == (k, k) and cm.sum() == n and np.trace(cm) == round(rep["accuracy"] * n)
    rej = rep["rejection"]
    assert list(rej) == JETCLASS_LABELS[1:]  # every signal class, QCD is the background
    assert rej["Hqql"]["signal_efficiency"] == 0.99 and rej["Tbl"]["signal_efficiency"] == 0.995
    assert rej["Hbb"]["signal_efficiency"] == 0.5
    # by hand for Hbb: score p_Hbb / (p_Hbb + p_QCD) on Hbb and QCD jets only
    p = torch.softmax(torch.as_tensor(logits), -1).numpy()
    sel = (y == 0) | (y == 1)
    score = p[sel, 1] / (p[sel, 1] + p[sel, 0])
    assert rej["Hbb"]["rejection"] == pytest.approx(background_rejection(score, (y[sel] == 1).astype(int), 0.5))
    custom = rejection_vs_background(logits, y, JETCLASS_LABELS, working_points={"Hbb": 0.3})
    assert custom["Hbb"]["signal_efficiency"] == 0.3 and custom["Hbb"]["rejection"] > rej["Hbb"]["rejection"]
    table = format_rejection_table(rej)
    assert "Tbl" in table and "0.995" in table and len(table.splitlines()) == k


def test_single_logit_binary_head_is_a_score():
    """An (N, 1) head: accuracy cut at 0 (argmax of one column was always class 0), report works."""
    from pgjets.train.metrics import accuracy, classification_report

    logits = np.array([[2.0], [1.5], [-1.0], [-3.0]])
    y = np.array([1, 1, 0, 0])
    assert accuracy(logits, y) == 1.0
    report = classification_report(logits, y)
    assert report["auc"] == 1.0 and report["accuracy"] == 1.0 and report["rej@0.3"] == float("inf")


def test_rejection_takes_the_best_cut_on_a_flat_stretch_of_the_roc():
    """Two signal jets above every background: at eps_S = 2/3 no background passes (was 1/0.75)."""
    from pgjets.train.metrics import background_rejection

    scores = np.array([5.0, 4.0, 3.0, 2.5, 2.0, 1.0, 0.0])
    y = np.array([1, 1, 0, 0, 0, 1, 0])
    assert background_rejection(scores, y, 2 / 3) == float("inf")
    assert background_rejection(scores, y, 1.0) == pytest.approx(4 / 3)  # 3 of 4 background pass at the last signal
    # between the last two signal jets only background passes: reaching 5/6 needs the looser cut's 3 of
    # 4 background (the curve is vertical there; it was interpolated along a diagonal to 0.375)
    assert background_rejection(scores, y, 5 / 6) == pytest.approx(4 / 3)


def test_rejection_between_cuts_is_not_a_diagonal_across_a_step():
    """9 signal, 11 background ranked S S S B S B S B ...: eps_S = 0.35 needs the 4th signal jet,
    which passes with one background jet: 1/eps_B = 11 (the old interpolation gave 73)."""
    from sklearn.metrics import roc_curve as sk_roc

    from pgjets.train.metrics import background_rejection

    order = "SSSBSBSBSBSBSBSBBBBB"
    scores = np.linspace(1, 0, len(order))
    y = np.array([c == "S" for c in order], dtype=int)
    assert background_rejection(scores, y, 0.35) == pytest.approx(11.0)
    assert background_rejection(scores, y, 0.3) == float("inf")  # three signal jets pass alone
    fpr, tpr, _ = sk_roc(y, scores)
    rng = np.random.default_rng(0)
    for eff in rng.uniform(0.01, 1.0, 50):  # off the points: np.interp on scikit-learn's curve
        ref = np.interp(eff, tpr, fpr)
        assert background_rejection(scores, y, eff) == pytest.approx(1 / ref if ref > 0 else float("inf"))
    tied = np.array([1.0, 1.0, 0.0, 0.0])  # one signal and one background tied: a slanted stretch
    assert background_rejection(tied, np.array([1, 0, 1, 0]), 0.25) == pytest.approx(1 / 0.25)


def test_per_class_rejection_does_not_underflow():
    from pgjets.train.metrics import rejection_vs_background

    logits = np.zeros((4, 3))
    logits[:, 2] = 800.0  # a third class dominates: p_X and p_B underflow in a softmax
    logits[:, 1] = [1.0, 2.0, -1.0, -2.0]
    out = rejection_vs_background(logits, np.array([1, 1, 0, 0]))
    assert out["1"]["rejection"] == float("inf")


def test_labels_must_be_class_indices_and_in_range():
    s = np.array([0.1, 0.9, 0.2, 0.8])
    assert roc_auc(s, np.array([0.0, 1.0, 0.0, 1.0])) == 1.0  # integral floats are fine
    with pytest.raises(InputShapeError, match="sklearn"):
        roc_auc(s, np.array([0.0, 0.7, 0.0, 1.0]))  # soft labels, or (labels, scores) swapped
    with pytest.raises(InputShapeError, match="non-integer"):
        roc_auc(np.array([0, 1, 0, 1]), s)
    with pytest.raises(InputShapeError, match=r"\[0, 2\)"):
        confusion_matrix(np.eye(2)[[0, 1, 1]], np.array([0, 1, 2]))
    with pytest.raises(InputShapeError, match="empty"):
        accuracy(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))


def test_working_point_cut_keeps_the_asked_signal_fraction_and_agrees_with_the_rejection():
    from pgjets.train import efficiencies_at_cuts, working_point_cut

    s, y = gaussian_scores(n=5000)
    logits = np.stack([np.zeros_like(s), s], 1)  # l_1 - l_0 = s
    for eff in (0.3, 0.5, 0.9, 1.0):
        cut = working_point_cut(logits, y, eff)
        assert (s[y == 1] >= cut).mean() == pytest.approx(eff, abs=1 / 5000)
        rows = efficiencies_at_cuts(logits, y, logits, y, ["qcd", "top"], {1: [eff]})
        # the same sample as reference: the rejection of the ROC at that efficiency
        assert rows[0]["rejection"] == pytest.approx(background_rejection(s, y, eff), rel=2e-2)
        assert rows[0]["efficiency"]["top"] == pytest.approx(eff, abs=1 / 5000)
    cut = working_point_cut(np.stack([s, np.zeros_like(s)], 1), y, 0.5, signal=0, background=1)
    assert (s[y == 0] >= cut).mean() == pytest.approx(0.5, abs=1e-3)  # class 0 as the signal: l_0 - l_1
    with pytest.raises(InputShapeError, match="no jet of the signal class"):
        working_point_cut(logits[y == 0], y[y == 0], 0.5)
    with pytest.raises(ValueError, match="signal_efficiency"):
        working_point_cut(logits, y, 0.0)


def test_cuts_on_a_one_class_sample_and_a_multiclass_run():
    from pgjets.train import efficiencies_at_cuts, signal_efficiencies

    rng = np.random.default_rng(1)
    ref_y = rng.integers(0, 3, 3000)
    ref = rng.normal(size=(3000, 3)) + 2.0 * np.eye(3)[ref_y]
    bkg_only = rng.normal(size=(1000, 3)) + 2.0 * np.eye(3)[0]
    names = ["QCD", "Hbb", "Tbl"]
    points = {c: [e] for c, e in signal_efficiencies(names).items()}
    assert points == {1: [0.5], 2: [0.995]}  # the ParT paper's working point for Tbl, else 0.5
    rows = efficiencies_at_cuts(ref, ref_y, bkg_only, np.zeros(1000, dtype=int), names, points)
    assert [(r["signal"], r["eps_S"]) for r in rows] == [("Hbb", 0.5), ("Tbl", 0.995)]
    for r, c in zip(rows, (1, 2)):
        passed = (bkg_only[:, c] - bkg_only[:, 0]) >= r["threshold"]
        assert set(r["efficiency"]) == {"QCD"} and r["efficiency"]["QCD"] == pytest.approx(passed.mean())
        assert r["rejection"] == pytest.approx(1 / passed.mean())
    sig_only = efficiencies_at_cuts(ref, ref_y, ref[ref_y == 1], np.ones((ref_y == 1).sum(), dtype=int), names,
                                    {1: [0.5]})
    assert sig_only[0]["efficiency"]["Hbb"] == pytest.approx(0.5, abs=1e-3) and "rejection" not in sig_only[0]


def test_cut_helpers_take_their_defaults_and_refuse_what_does_not_fit():
    from pgjets.train import discriminant, efficiencies_at_cuts, signal_efficiencies, working_point_cut

    s, y = gaussian_scores(n=2000)
    logits = np.stack([s, np.zeros_like(s)], 1)  # class 0 is the signal here
    flipped = 1 - y.astype(int)
    cut = working_point_cut(logits, flipped, 0.5, signal=0)  # background: the other class of a binary tagger
    assert cut == working_point_cut(logits, flipped, 0.5, signal=0, background=1)
    rows = efficiencies_at_cuts(logits, flipped, logits, flipped, ["top", "qcd"], {0: 0.5})  # one float
    assert rows[0]["efficiency"]["top"] == pytest.approx(0.5, abs=1e-3) and "rejection" in rows[0]
    with pytest.raises(ValueError, match="same class"):
        discriminant(logits, 1, 1)
    with pytest.raises(InputShapeError, match="not among the 2"):
        efficiencies_at_cuts(logits, flipped, logits, np.full(len(s), 2), ["top", "qcd"], {0: 0.5})
    with pytest.raises(InputShapeError, match="not among the 2"):
        efficiencies_at_cuts(logits, flipped, logits, flipped, ["top", "qcd"], {5: 0.5})
    with pytest.raises(ValueError, match="background class 5"):
        signal_efficiencies(["qcd", "top"], background=5)


def test_multiclass_rejection_keeps_large_logit_gaps_apart():
    """Signal X perfectly above the background with l_X - l_B of 41-60 (signal) and 37.5-40 (background):
    the sigmoid of the gap is 1.0 for all of them in float64 (ties: 1/eps_B was 2), the gap itself is not."""
    from pgjets.train.metrics import rejection_vs_background

    rng = np.random.default_rng(0)
    n = 20
    gap = np.r_[rng.uniform(41, 60, n), rng.uniform(37.5, 40, n)]
    logits = np.zeros((2 * n, 3))
    logits[:, 1] = gap  # class 1 against the background class 0
    y = np.r_[np.ones(n, int), np.zeros(n, int)]
    assert (1 / (1 + np.exp(-gap)) == 1.0).all()  # what the old score saw
    rej = rejection_vs_background(logits, y, ["qcd", "top", "w"], background=0, working_points={"top": 0.5})
    assert rej["top"]["rejection"] == float("inf")


def test_multiclass_report_names_its_background_and_auc_classes():
    from pgjets.run import format_metrics
    from pgjets.train.metrics import multiclass_auc, multiclass_report

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 30)
    logits = rng.normal(size=(90, 3)) + 2 * np.eye(3)[y]
    report = multiclass_report(logits, y, ["top", "w", "qcd"], background=2)
    assert report["background"] == "qcd" and report["auc_classes"] == ["top", "w", "qcd"]
    text = format_metrics(report)
    assert "1/eps_B (qcd)" in text and "\ntop " in text and "\nqcd " not in text  # rows: the signals
    absent = y != 1  # no w jets: the macro AUC averages top and qcd only, and says so
    part = multiclass_report(logits[absent], y[absent], ["top", "w", "qcd"], background=2)
    assert part["auc_classes"] == ["top", "qcd"]
    assert part["auc"] == pytest.approx(multiclass_auc(logits[absent], y[absent]))
    assert "macro AUC (of top, qcd)" in format_metrics(part)
    # ranked by the logit of p_c: probabilities that round to 1 keep their order (class 0 of rows 0, 1
    # above rows 2, 3: AUC 1, not the 0.5 of ties; class 1: row 2 beats rows 0, 1 only; class 2: row 3 top)
    big = np.zeros((4, 3))
    big[:, 0] = [60.0, 50.0, 45.0, 40.0]
    assert multiclass_auc(big, np.array([0, 0, 1, 2])) == pytest.approx((1.0 + 2 / 3 + 1.0) / 3)


def test_integer_weights_equal_repeated_examples():
    rng = np.random.default_rng(3)
    n = 400
    y = rng.integers(0, 2, n)
    s = rng.normal(size=n) + y
    w = rng.integers(1, 4, n)
    rep_s, rep_y = np.repeat(s, w), np.repeat(y, w)
    assert roc_auc(s, y, sample_weight=w) == pytest.approx(roc_auc(rep_s, rep_y), abs=1e-12)
    for eff in (0.3, 0.5, 0.9):
        assert background_rejection(s, y, eff, sample_weight=w) == pytest.approx(
            background_rejection(rep_s, rep_y, eff), rel=1e-12)
    logits = np.stack([-s, s], 1)
    assert accuracy(logits, y, sample_weight=w) == pytest.approx(accuracy(np.repeat(logits, w, 0), rep_y))
    report = classification_report(logits, y, sample_weight=w)
    assert report == pytest.approx(classification_report(np.repeat(logits, w, 0), rep_y))
    assert report != pytest.approx(classification_report(logits, y))  # the weights change the numbers
    # three classes: macro AUC and the per-class rejections against the background
    y3 = rng.integers(0, 3, n)
    l3 = rng.normal(size=(n, 3)) + np.eye(3)[y3]
    assert multiclass_auc(l3, y3, sample_weight=w) == pytest.approx(multiclass_auc(np.repeat(l3, w, 0),
                                                                                    np.repeat(y3, w)), abs=1e-12)
    from pgjets.train.metrics import multiclass_report

    weighted = multiclass_report(l3, y3, sample_weight=w)["rejection"]
    repeated = multiclass_report(np.repeat(l3, w, 0), np.repeat(y3, w))["rejection"]
    assert {c: v["rejection"] for c, v in weighted.items()} == pytest.approx(
        {c: v["rejection"] for c, v in repeated.items()})


def test_weighted_auc_agrees_with_sklearn_and_is_defined_for_negative_weights():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # ties of both classes
    w = rng.uniform(0.1, 2.0, 300)
    assert roc_auc(s, y, sample_weight=w) == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    w_neg = w.copy()
    w_neg[::7] *= -0.5  # NLO events: some weights negative; scikit-learn's roc_auc_score refuses the curve
    with pytest.raises(ValueError):
        roc_auc_score(y, s, sample_weight=w_neg)
    fpr, tpr, _ = roc_curve(s, y, sample_weight=w_neg)
    assert (np.diff(tpr) < 0).any() or (np.diff(fpr) < 0).any()  # the curve turns back somewhere
    auc = roc_auc(s, y, sample_weight=w_neg)
    assert auc == pytest.approx(np.trapezoid(tpr, fpr), abs=1e-12) and 0.5 < auc < 1.0
    r = background_rejection(s, y, 0.5, sample_weight=w_neg)
    j = int(np.argmax(tpr >= 0.5))  # where eps_S first reaches 0.5
    assert tpr[j - 1] < 0.5 <= tpr[j]
    eps_b = fpr[j - 1] + (0.5 - tpr[j - 1]) / (tpr[j] - tpr[j - 1]) * (fpr[j] - fpr[j - 1])
    assert r == pytest.approx(1.0 / eps_b)


def test_bad_weights_are_refused():
    s, y = np.array([0.1, 0.9, 0.4, 0.7]), np.array([0, 1, 0, 1])
    with pytest.raises(InputShapeError, match="3 values for 4"):
        roc_auc(s, y, sample_weight=[1.0, 1.0, 1.0])
    with pytest.raises(NonFiniteError, match="sample_weight"):
        roc_auc(s, y, sample_weight=[1.0, np.nan, 1.0, 1.0])
    with pytest.raises(InputShapeError, match="class 0 sum to -1"):
        background_rejection(s, y, 0.5, sample_weight=[-1.0, 1.0, 0.0, 1.0])
    with pytest.raises(InputShapeError, match="sum to 0"):
        accuracy(np.stack([-s, s], 1), y, sample_weight=[1.0, -1.0, 0.0, 0.0])
