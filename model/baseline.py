"""scikit-learn baseline: shared TF-IDF (word + char n-grams) and a calibrated
linear classifier per head.

Rows may label only some heads; each head is fitted on the rows that label it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from model.base import Probas
from model.taxonomy import BY_NAME, HEADS


@dataclass
class BaselineParams:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 1
    C: float = 4.0
    calibration_cv: int = 3
    class_weight: str | None = "balanced"
    seed: int = 13

    def as_dict(self) -> dict[str, object]:
        return {f"baseline.{k}": v for k, v in self.__dict__.items()}


@dataclass
class BaselineModel:
    """fit(texts, labels) / predict_proba(texts) -> per-head probabilities."""

    params: BaselineParams = field(default_factory=BaselineParams)
    features_: FeatureUnion | None = None
    heads_: dict[str, CalibratedClassifierCV | LogisticRegression] = field(default_factory=dict)

    def _features(self) -> FeatureUnion:
        p = self.params
        return FeatureUnion(
            [
                (
                    "word",
                    TfidfVectorizer(
                        ngram_range=p.word_ngrams, min_df=p.min_df, sublinear_tf=True,
                        lowercase=True, strip_accents=None,
                    ),
                ),
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb", ngram_range=p.char_ngrams, min_df=p.min_df,
                        sublinear_tf=True, lowercase=True,
                    ),
                ),
            ]
        )

    def fit(self, texts: Sequence[str], labels: dict[str, Sequence[str | None]]) -> BaselineModel:
        self.features_ = self._features()
        x = self.features_.fit_transform(list(texts))
        self.heads_ = {}
        for h in HEADS:
            ys = labels.get(h.name)
            if ys is None:
                continue
            mask = np.array([y is not None for y in ys])
            if mask.sum() == 0:
                continue
            y = np.array([h.index(v) for v in np.asarray(ys, dtype=object)[mask]])
            lr = LogisticRegression(
                C=self.params.C, max_iter=2000, class_weight=self.params.class_weight,
                random_state=self.params.seed,
            )
            counts = np.bincount(y, minlength=len(h.labels))
            cv = min(self.params.calibration_cv, int(counts[counts > 0].min()))
            clf = CalibratedClassifierCV(lr, cv=cv, method="sigmoid") if cv >= 2 else lr
            self.heads_[h.name] = clf.fit(x[mask], y)
        return self

    def predict_proba(self, texts: Sequence[str]) -> Probas:
        if self.features_ is None:
            raise RuntimeError("BaselineModel is not fitted")
        x = self.features_.transform(list(texts))
        out: Probas = {}
        for name, clf in self.heads_.items():
            n = len(BY_NAME[name].labels)
            proba = np.zeros((x.shape[0], n))
            proba[:, clf.classes_] = clf.predict_proba(x)
            out[name] = proba
        return out
