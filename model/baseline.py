"""scikit-learn baseline: shared TF-IDF (word + char n-grams) and a class-balanced
logistic regression per head.

Rows may label only some heads; each head is fitted on the rows that label it.
After fitting, the heads' coefficients are stacked into one matrix so a
prediction is two vectorizer calls and one sparse product: the per-estimator
input validation of scikit-learn would otherwise cost more than the maths
(see ``test_fast_path_matches_sklearn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from model.base import Probas
from model.taxonomy import BY_NAME, HEADS


@dataclass
class BaselineParams:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 1
    C: float = 4.0
    class_weight: str | None = "balanced"
    seed: int = 13

    def as_dict(self) -> dict[str, object]:
        return {f"baseline.{k}": v for k, v in self.__dict__.items()}


@dataclass
class _HeadSlice:
    name: str
    start: int
    stop: int
    classes: np.ndarray  # taxonomy indices of the fitted classes
    binary: bool


@dataclass
class BaselineModel:
    """fit(texts, labels) / predict_proba(texts) -> per-head probabilities."""

    params: BaselineParams = field(default_factory=BaselineParams)
    vectorizers_: list[TfidfVectorizer] = field(default_factory=list)
    heads_: dict[str, LogisticRegression] = field(default_factory=dict)
    _weights: np.ndarray | None = None
    _bias: np.ndarray | None = None
    _slices: list[_HeadSlice] = field(default_factory=list)
    _analyzers: list | None = None

    def _make_vectorizers(self) -> list[TfidfVectorizer]:
        p = self.params
        word = TfidfVectorizer(ngram_range=p.word_ngrams, min_df=p.min_df, sublinear_tf=True)
        char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=p.char_ngrams, min_df=p.min_df, sublinear_tf=True
        )
        return [word, char]

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF of both vectorizers, computed directly from their fitted vocabularies.

        Same numbers as ``TfidfVectorizer.transform`` (checked by a parity test) for
        the options used here (sublinear tf, smooth idf, l2 norm), without its
        per-call validation, which costs more than the counting for one tweet.
        """
        if self._analyzers is None:
            self._analyzers = [(v.build_analyzer(), v.vocabulary_, v.idf_) for v in self.vectorizers_]
        n_cols = sum(len(vocab) for _, vocab, _ in self._analyzers)
        indptr, indices, data, nnz = [0], [], [], 0
        for text in texts:
            offset = 0
            for analyze, vocab, idf in self._analyzers:
                counts: dict[int, int] = {}
                for gram in analyze(text):
                    j = vocab.get(gram)
                    if j is not None:
                        counts[j] = counts.get(j, 0) + 1
                if counts:
                    cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                    tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                    weights = (np.log(tf) + 1.0) * idf[cols]
                    weights /= np.sqrt(weights @ weights)
                    indices.append(cols + offset)
                    data.append(weights)
                    nnz += len(cols)
                offset += len(vocab)
            indptr.append(nnz)
        values = np.concatenate(data) if data else np.zeros(0)
        columns = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
        return sp.csr_matrix((values, columns, np.asarray(indptr)), shape=(len(texts), n_cols))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_analyzers"] = None  # closures: rebuilt on first use after loading
        return state

    def fit(self, texts: Sequence[str], labels: dict[str, Sequence[str | None]]) -> BaselineModel:
        texts = list(texts)
        self.vectorizers_ = self._make_vectorizers()
        x = sp.hstack([v.fit_transform(texts) for v in self.vectorizers_], format="csr")
        self._analyzers = None
        self.heads_ = {}
        for h in HEADS:
            ys = labels.get(h.name)
            if ys is None:
                continue
            mask = np.array([y is not None for y in ys])
            if not mask.any():
                continue
            y = np.array([h.index(v) for v in np.asarray(ys, dtype=object)[mask]])
            if len(set(y)) < 2:
                continue
            lr = LogisticRegression(
                C=self.params.C, max_iter=3000, class_weight=self.params.class_weight,
                random_state=self.params.seed,
            )
            self.heads_[h.name] = lr.fit(x[mask], y)
        missing = [h.name for h in HEADS if h.name not in self.heads_]
        if missing:
            # a model without a head would fail every request at serving time: refuse here
            raise ValueError(
                f"cannot fit head(s) {', '.join(missing)}: each needs labelled rows of at least "
                "two classes"
            )
        self._compile()
        return self

    def _compile(self) -> None:
        columns, bias, self._slices, start = [], [], [], 0
        for name, lr in self.heads_.items():
            k = lr.coef_.shape[0]
            columns.append(lr.coef_.T)
            bias.append(lr.intercept_)
            self._slices.append(_HeadSlice(name, start, start + k, lr.classes_, k == 1))
            start += k
        self._weights = np.ascontiguousarray(np.hstack(columns))
        self._bias = np.concatenate(bias)

    def predict_proba(self, texts: Sequence[str]) -> Probas:
        if self._weights is None:
            raise RuntimeError("BaselineModel is not fitted")
        z = self.features(list(texts)) @ self._weights + self._bias
        out: Probas = {}
        for s in self._slices:
            scores = z[:, s.start : s.stop]
            if s.binary:
                p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
                fitted = np.column_stack([1.0 - p1, p1])
            else:
                e = np.exp(scores - scores.max(axis=1, keepdims=True))
                fitted = e / e.sum(axis=1, keepdims=True)
            proba = np.zeros((z.shape[0], len(BY_NAME[s.name].labels)))
            proba[:, s.classes] = fitted
            out[s.name] = proba
        return out
