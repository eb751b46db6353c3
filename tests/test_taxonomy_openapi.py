"""The API's enums come from the taxonomy (issue 8): a label added in a test taxonomy shows up
in the OpenAPI schema with no second place to edit."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.servers import ROOT

PATCHED = """
import dataclasses, json
import model.taxonomy as t
intent = dataclasses.replace(t.INTENT, labels=(*t.INTENT.labels, "outage"), hotkeys=(*t.INTENT.hotkeys, "7"))
t.INTENT, t.BY_NAME["intent"] = intent, intent
t.HEADS = tuple(intent if h.name == "intent" else h for h in t.HEADS)
from serving.app import create_app
from serving.settings import ServeSettings
schema = create_app(ServeSettings(allow_open=True)).openapi()["components"]["schemas"]
print(json.dumps({
    "feedback_intent": schema["FeedbackIn"]["properties"]["intent"]["anyOf"][0]["enum"],
    "tier": schema["PriorityOut"]["properties"]["tier"]["enum"],
}))
"""


def test_a_label_added_to_the_taxonomy_changes_the_openapi_enum() -> None:
    proc = subprocess.run([sys.executable, "-c", PATCHED], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["feedback_intent"][-1] == "outage"
    assert got["tier"] == ["P1", "P2", "P3", "P4"]
