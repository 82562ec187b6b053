import numpy as np
import pytest
from sklearn import metrics as skm

from peakcnn.evaluate import bootstrap_ci, choose_threshold, classification_metrics


@pytest.mark.parametrize("seed", range(5))
def test_metrics_agree_with_scikit_learn_including_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) * 0.5 + labels * 0.3, 1)  # coarse: many ties
    result = classification_metrics(labels, scores, 0.5)
    assert result["auroc"] == pytest.approx(skm.roc_auc_score(labels, scores))
    assert result["auprc"] == pytest.approx(skm.average_precision_score(labels, scores))
    assert result["positive_fraction"] == pytest.approx(labels.mean())
    assert result["f1"] == pytest.approx(skm.f1_score(labels, scores >= 0.5))


def test_inverted_scores_give_auroc_below_half():
    labels = np.array([0, 0, 1, 1])
    assert classification_metrics(labels, -np.array([0.1, 0.2, 0.8, 0.9]), 0)["auroc"] == 0


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="only class"):
        classification_metrics(np.ones(10, dtype=int), np.linspace(0, 1, 10), 0.5)


def test_threshold_depends_only_on_validation_data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = rng.random(200) * 0.6 + labels * 0.4
    cut = choose_threshold(labels, scores, "max_f1")
    f1_at = lambda t: skm.f1_score(labels, scores >= t)  # noqa: E731
    assert f1_at(cut) == pytest.approx(max(f1_at(t) for t in np.unique(scores)))
    youden = choose_threshold(labels, scores, "youden")
    assert 0 < youden <= 1


def test_bootstrap_interval_contains_the_estimate():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    scores = rng.random(400) + labels * 0.5
    ci = bootstrap_ci(labels, scores, 200, seed=0)
    auroc = skm.roc_auc_score(labels, scores)
    assert ci["auroc_ci95"][0] < auroc < ci["auroc_ci95"][1]
    assert ci["auprc_ci95"][1] - ci["auprc_ci95"][0] < 0.2
