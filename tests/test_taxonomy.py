from model.taxonomy import BY_NAME, HEAD_NAMES, HEADS, head


def test_four_heads_in_design_order() -> None:
    assert HEAD_NAMES == ("intent", "sentiment", "needs_reply", "urgency")
    assert BY_NAME["intent"].labels == (
        "complaint",
        "request",
        "question",
        "feedback",
        "praise",
        "other",
    )
    assert len(BY_NAME["sentiment"].labels) == 3
    assert BY_NAME["needs_reply"].labels == ("yes", "no")
    assert BY_NAME["urgency"].labels == ("high", "normal", "low")


def test_hotkeys_unique_and_one_per_label() -> None:
    keys = [k for h in HEADS for k in h.hotkeys]
    assert len(keys) == len(set(keys))
    for h in HEADS:
        assert len(h.hotkeys) == len(h.labels)


def test_unknown_head_names_the_choices() -> None:
    try:
        head("topic")
    except KeyError as exc:
        assert "intent" in str(exc)
    else:
        raise AssertionError("expected KeyError")
