"""Session options the API's ONNX Runtime session is built with, from the environment."""

from __future__ import annotations

import pytest

from model.onnx_runtime import SPIN_ENV, THREADS_ENV, session_options


def test_threads_and_spinning_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "3")
    monkeypatch.delenv(SPIN_ENV, raising=False)
    options = session_options()
    assert options.intra_op_num_threads == 3
    with pytest.raises(RuntimeError):  # not set: ONNX Runtime's default (spinning)
        options.get_session_config_entry("session.intra_op.allow_spinning")
    monkeypatch.setenv(SPIN_ENV, "0")
    assert session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_a_bad_spin_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPIN_ENV, "sometimes")
    with pytest.raises(ValueError, match=SPIN_ENV):
        session_options()
