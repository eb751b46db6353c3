from collections import Counter

from model.dataset import Row
from model.split import assign
from training.data import split_rows


def test_assignment_is_deterministic_and_proportional() -> None:
    ids = [f"id-{i}" for i in range(5000)]
    first = [assign(i) for i in ids]
    assert first == [assign(i) for i in ids]
    counts = Counter(first)
    assert 0.66 < counts["train"] / 5000 < 0.74
    assert 0.12 < counts["validation"] / 5000 < 0.18
    assert 0.12 < counts["test"] / 5000 < 0.18


def test_adding_rows_never_moves_existing_rows() -> None:
    def row(i: int) -> Row:
        return Row(id=f"r{i}", text="t", lang="en", labels={})

    before = split_rows([row(i) for i in range(300)])
    after = split_rows([row(i) for i in range(1000)])
    for part in ("train", "validation", "test"):
        old = {r.id for r in before[part]}
        new = {r.id for r in after[part]}
        assert old <= new
