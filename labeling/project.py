"""Create or update the labeling project so that it always matches the taxonomy.

The project is found by its exact title, so re-running ``webcare label init``
updates it in place (config, instructions) instead of creating a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labeling.client import find_project
from labeling.config import guidelines_markdown, label_config, markdown_to_html
from model.taxonomy import TAXONOMY_VERSION

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

UNCERTAIN_VIEW = "Most uncertain first"
UNCERTAINTY_SAMPLING = "Uncertainty sampling"
DEFAULT_OVERLAP = 2
DEFAULT_OVERLAP_PERCENT = 20


@dataclass
class InitResult:
    project_id: int
    created: bool
    config_changed: bool
    guidelines: Path | None
    """The guidelines file used, or None when the taxonomy fallback was."""


def ensure_uncertain_view(ls: LabelStudio, project_id: int) -> None:
    """A Data Manager tab that lists the tasks the model is least sure about first."""
    for view in ls.views.list(project=project_id):
        if (view.data or {}).get("title") == UNCERTAIN_VIEW:
            return
    ls.views.create(
        project=project_id,
        data={"title": UNCERTAIN_VIEW, "ordering": ["-tasks:data.uncertainty"]},
    )


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
    admin's later changes in the UI survive a re-run.
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
    }
    project = find_project(ls, title)
    if project is None:
        created = ls.projects.create(
            **settings,
            sampling=UNCERTAINTY_SAMPLING,
            maximum_annotations=overlap or DEFAULT_OVERLAP,
            overlap_cohort_percentage=(
                DEFAULT_OVERLAP_PERCENT if overlap_percent is None else overlap_percent
            ),
        )
        ensure_uncertain_view(ls, created.id)
        return InitResult(created.id, True, True, source)
    current = ls.projects.get(id=project.id)
    changed = (current.label_config or "").strip() != settings["label_config"].strip()
    extra: dict[str, Any] = {}
    if overlap is not None:
        extra["maximum_annotations"] = overlap
    if overlap_percent is not None:
        extra["overlap_cohort_percentage"] = overlap_percent
    ls.projects.update(id=project.id, **settings, **extra)
    ensure_uncertain_view(ls, project.id)
    return InitResult(project.id, False, changed, source)
