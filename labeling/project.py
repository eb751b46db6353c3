"""Create or update the labeling project so that it always matches the taxonomy.

The project is found by its exact title, so re-running ``webcare label init``
updates it in place (config, instructions, queue settings, the task list's
columns) instead of creating a second one.

Queue settings, all Label Studio Community ones (roles, task assignment,
"annotators see only their own work" and strict overlap are Enterprise):

* ``maximum_annotations`` / ``overlap_cohort_percentage``: the share of tasks two
  labelers annotate, for agreement;
* ``show_overlap_first``: those tasks are served before the others, and of those
  the ones another labeler already did first (Label Studio's breadth-first step);
* sequential sampling: the rest in ``data.rank`` order, one rank across imports.
  "Uncertainty sampling" turns into random order once the organization has two
  members, and it reads the prediction score the import no longer sends;
* ``show_collab_predictions`` off: the model's guess is task data shown as text,
  never a pre-selected answer that a hotkey would toggle off.

The label stream always gives a labeler a new annotation of their own; the Data
Manager could open someone else's, which the embedded server's guard
(labeling/ls_plugin) refuses to let anyone but its author change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labeling.client import find_project
from labeling.config import (
    CONTEXT_FIELD,
    CONTEXT_TITLE_FIELD,
    GUESS_FIELD,
    HINT_FIELD,
    TEXT_FIELD,
    guidelines_markdown,
    label_config,
    markdown_to_html,
)
from model.taxonomy import TAXONOMY_VERSION

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

UNCERTAIN_VIEW = "Most uncertain first"
SAMPLING = "Sequential sampling"
DEFAULT_OVERLAP = 2
DEFAULT_OVERLAP_PERCENT = 20
VISIBLE_COLUMNS = tuple(
    f"tasks:data.{key}" for key in (TEXT_FIELD, CONTEXT_FIELD, "lang", GUESS_FIELD, "uncertainty")
)
"""The task list a labeler sees: the mention, its context, language, the model's guess and
how unsure the model is (the "Prediction score" column would read as a confidence)."""
DATA_KEYS = (
    CONTEXT_TITLE_FIELD, HINT_FIELD, "origin", "text_hash", "import_batch", "rank", "domain",
    "source_id", "model_version", "other_language",
)  # fmt: skip
"""Task data the import writes besides the visible columns: hidden, for admins."""
NUMBER_COLUMNS = ("tasks:data.uncertainty", "tasks:data.rank")
QUEUE_SETTINGS: dict[str, Any] = {
    "sampling": SAMPLING,
    "show_overlap_first": True,
    "show_collab_predictions": False,
    "reveal_preannotations_interactively": False,
}


@dataclass
class InitResult:
    project_id: int
    created: bool
    config_changed: bool
    guidelines: Path | None
    """The guidelines file used, or None when the taxonomy fallback was."""
    overlap: int = DEFAULT_OVERLAP
    overlap_percent: int = DEFAULT_OVERLAP_PERCENT


def _column_ids(ls: LabelStudio, project_id: int) -> set[str]:
    """Every Data Manager column id of the project, e.g. tasks:inner_id, tasks:data.text
    (and tasks:data, the raw JSON of all fields)."""
    response = ls._client_wrapper.httpx_client.request(
        "api/dm/columns", method="GET", params={"project": project_id}
    )
    response.raise_for_status()
    ids: set[str] = set()
    for col in response.json().get("columns", []):
        parent = f"{col['parent']}." if col.get("parent") else ""
        ids.add(f"{col.get('target', 'tasks')}:{parent}{col['id']}")
    return ids


def view_data(hidden: list[str]) -> dict[str, Any]:
    return {
        "title": UNCERTAIN_VIEW,
        "ordering": ["tasks:data.rank"],
        "hiddenColumns": {"explore": hidden, "labeling": hidden},
        "columnsDisplayType": dict.fromkeys(NUMBER_COLUMNS, "Number"),
    }


def ensure_uncertain_view(ls: LabelStudio, project_id: int) -> int:
    """The first Data Manager tab: the labeler's columns only, in queue order (data.rank:
    most uncertain first within an import, later imports after earlier ones).

    Admin columns (ids, annotation counts, hashes, batches) are hidden, not removed:
    the column menu brings them back. Numbers are typed as numbers so they sort and
    filter as such. Tabs are shared by every member of the organization.
    """
    known = _column_ids(ls, project_id) | {f"tasks:data.{key}" for key in DATA_KEYS}
    hidden = sorted(known - set(VISIBLE_COLUMNS))
    views = list(ls.views.list(project=project_id))
    ours = next((v for v in views if (v.data or {}).get("title") == UNCERTAIN_VIEW), None)
    if ours is None:
        ours = ls.views.create(project=project_id, data=view_data(hidden))
    else:
        ls.views.update(id=str(ours.id), project=project_id, data={**(ours.data or {}), **view_data(hidden)})
    others = [int(v.id) for v in views if v.id != ours.id]
    if others:
        ls.views.update_order(project=project_id, ids=[int(ours.id), *others])
    return int(ours.id)


def ensure_project(
    ls: LabelStudio,
    title: str,
    *,
    guidelines: Path | None = None,
    overlap: int | None = None,
    overlap_percent: int | None = None,
) -> InitResult:
    """Create the project, or update its config and instructions.

    Overlap settings are applied on creation (defaults: 2 annotators on 20% of the
    tasks, enough to measure agreement) and on update only when given, so an
    admin's later changes in the UI survive a re-run. QUEUE_SETTINGS are applied
    every time: the workflow depends on them.
    """
    if len(title) < 3:
        raise ValueError("the project title needs at least 3 characters")
    text, source = guidelines_markdown(guidelines)
    settings: dict[str, Any] = {
        "title": title,
        "description": f"Webcare triage labels (taxonomy {TAXONOMY_VERSION})",
        "label_config": label_config(),
        "expert_instruction": markdown_to_html(text),
        "show_instruction": True,
        "show_skip_button": True,
        "enable_empty_annotation": False,
        **QUEUE_SETTINGS,
    }
    project = find_project(ls, title)
    if project is None:
        created = ls.projects.create(
            **settings,
            maximum_annotations=overlap or DEFAULT_OVERLAP,
            overlap_cohort_percentage=(
                DEFAULT_OVERLAP_PERCENT if overlap_percent is None else overlap_percent
            ),
        )
        ensure_uncertain_view(ls, created.id)
        return InitResult(
            created.id, True, True, source, created.maximum_annotations or 1,
            int(created.overlap_cohort_percentage or 0),
        )  # fmt: skip
    current = ls.projects.get(id=project.id)
    changed = (current.label_config or "").strip() != settings["label_config"].strip()
    extra: dict[str, Any] = {}
    if overlap is not None:
        extra["maximum_annotations"] = overlap
    if overlap_percent is not None:
        extra["overlap_cohort_percentage"] = overlap_percent
    updated = ls.projects.update(id=project.id, **settings, **extra)
    ensure_uncertain_view(ls, project.id)
    return InitResult(
        project.id, False, changed, source, updated.maximum_annotations or 1,
        int(updated.overlap_cohort_percentage or 0),
    )  # fmt: skip
