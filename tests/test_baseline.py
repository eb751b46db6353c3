"""Model tests for the baseline: fast path parity, partial labels, held-out quality."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from model.baseline import BaselineModel
from model.dataset import load_dataset
from model.settings import Settings
from model.taxonomy import BY_NAME
from training.data import split_rows
from training.families import labels_of, texts_of


@pytest.fixture(scope="module")
def splits() -> dict:
    return split_rows(load_dataset([Settings().seed_dir]))


@pytest.fixture(scope="module")
def fitted(splits: dict) -> BaselineModel:
    return BaselineModel().fit(texts_of(splits["train"]), labels_of(splits["train"]))


def test_fast_path_matches_sklearn(fitted: BaselineModel, splits: dict) -> None:
    texts = texts_of(splits["test"])
    fast = fitted.predict_proba(texts)
    x = sp.hstack([v.transform(texts) for v in fitted.vectorizers_], format="csr")
    for name, lr in fitted.heads_.items():
        reference = np.zeros_like(fast[name])
        reference[:, lr.classes_] = lr.predict_proba(x)
        np.testing.assert_allclose(fast[name], reference, atol=1e-9)
        assert fast[name].shape == (len(texts), len(BY_NAME[name].labels))


def test_fast_features_match_sklearn_vectorizers(fitted: BaselineModel, splits: dict) -> None:
    import pickle

    import scipy.sparse as sp

    texts = [*texts_of(splits["test"]), "", "🙂", "zzzz qqqq"]  # empty and out-of-vocabulary too
    reference = sp.hstack([v.transform(texts) for v in fitted.vectorizers_], format="csr")
    fast = fitted.features(texts)
    assert fast.shape == reference.shape
    np.testing.assert_allclose(fast.toarray(), reference.toarray(), atol=1e-12)
    again = pickle.loads(pickle.dumps(fitted))  # the analyzers cache is rebuilt after loading
    np.testing.assert_allclose(again.features(texts[:3]).toarray(), reference[:3].toarray())


def test_partial_labels_fit_each_head_on_its_labelled_rows(splits: dict) -> None:
    rows = splits["train"]
    labels = labels_of(rows)
    labels["urgency"] = [v if i % 2 else None for i, v in enumerate(labels["urgency"])]
    model = BaselineModel().fit(texts_of(rows), labels)
    assert set(model.predict_proba(["Waar blijft mijn pakket?"])) == set(BY_NAME)


def test_a_model_missing_a_head_is_refused_at_fit_time(splits: dict) -> None:
    rows = splits["train"]
    labels = labels_of(rows)
    labels["intent"] = [None] * len(rows)
    labels["urgency"] = ["high"] * len(rows)
    with pytest.raises(ValueError, match="cannot fit head.s. intent, urgency"):
        BaselineModel().fit(texts_of(rows), labels)


def test_held_out_quality_beats_majority(fitted: BaselineModel, splits: dict) -> None:
    rows = splits["test"]
    probas = fitted.predict_proba(texts_of(rows))
    for name, p in probas.items():
        labels = BY_NAME[name].labels
        truth = np.array([labels.index(r.labels[name]) for r in rows])
        accuracy = float((p.argmax(axis=1) == truth).mean())
        majority = np.bincount(truth).max() / len(truth)
        assert accuracy > majority + 0.1, (name, accuracy, majority)
