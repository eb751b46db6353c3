"""The Label Studio labeling config and instructions, generated from the taxonomy.

Generating the XML from ``model.taxonomy.HEADS`` keeps labels, their order and
hotkeys identical across labeling, training and serving: change the taxonomy
and ``webcare label init`` updates the project.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from xml.sax.saxutils import quoteattr

from model.dataset import KNOWN_TAGS
from model.settings import PROJECT_ROOT
from model.taxonomy import HEADS, TAXONOMY_VERSION

GUIDELINES = PROJECT_ROOT / "docs" / "labeling-guidelines.md"
TEXT_FIELD = "text"
CONTEXT_FIELD = "context"
CONTEXT_TITLE_FIELD = "context_title"
"""'In reply to' when the task has context, else '': the block then shows nothing."""
GUESS_FIELD = "model_guess"
"""The model's labels as one line (a Data Manager column)."""
HINT_FIELD = "model_hint"
"""The same with each label's hotkey, shown above the choices on the labeling screen."""
TAGS_FIELD = "tags"
CONTEXT_STYLE = "padding: 0 1em; margin-bottom: 0.5em; color: #555; border-left: 3px solid #ccc"
HINT_STYLE = "color: #2d6a4f"
CONTEXT_CLASS = "webcare-context"
HIDE_EMPTY_CONTEXT = f".{CONTEXT_CLASS}:has(.lsf-richtext__line:empty) {{ display: none; }}"
"""The context box collapses to a grey bar when empty; its title is empty then too."""


def _attr(**attrs: str) -> str:
    return " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())


def label_config() -> str:
    """Four required single-choice groups (one per head) and optional hard-case tags over
    the mention, with the tweet it replies to above it when there is one.

    Label Studio's hotkey toggles a choice, so a pre-selected model answer is cleared
    by the very key that should confirm it (and the Data Manager pre-selects a task's
    predictions whatever the project settings say). The model's guess is therefore
    task data, shown as a line with each label's key, and the labeler's groups start
    empty: accepting or changing a head is one keystroke either way, and no head is
    submitted unseen. Each choice's hotkey is also shown on its button.
    """
    lines = [
        "<View>",
        f"  <Style>{escape(HIDE_EMPTY_CONTEXT, quote=False)}</Style>",
        f"  <View {_attr(className=CONTEXT_CLASS, style=CONTEXT_STYLE)}>",
        f"    <Header {_attr(value='$' + CONTEXT_TITLE_FIELD, size='6')}/>",
        f"    <Text {_attr(name=CONTEXT_FIELD, value='$' + CONTEXT_FIELD)}/>",
        "  </View>",
        f"  <Header {_attr(value='Mention', size='5')}/>",
        f"  <Text {_attr(name=TEXT_FIELD, value='$' + TEXT_FIELD)}/>",
        f"  <View {_attr(style=HINT_STYLE)}>",
        f"    <Header {_attr(value='$' + HINT_FIELD, size='6')}/>",
        "  </View>",
    ]
    for head in HEADS:
        lines.append(f"  <Header {_attr(value=f'{head.name}: {head.description}', size='6')}/>")
        choices = _attr(
            name=head.name,
            toName=TEXT_FIELD,
            choice="single-radio",
            showInLine="true",
            required="true",
        )
        lines.append(f"  <Choices {choices}>")
        for label, key in zip(head.labels, head.hotkeys, strict=True):
            lines.append(f"    <Choice {_attr(value=label, hotkey=key)}/>")
        lines.append("  </Choices>")
    # Optional hard-case tags from the guidelines; no hotkeys, so the four heads keep theirs.
    lines.append(
        f"  <Header {_attr(value='tags (optional): hard cases, see the guidelines', size='6')}/>"
    )
    tags = _attr(name=TAGS_FIELD, toName=TEXT_FIELD, choice="multiple", showInLine="true")
    lines.append(f"  <Choices {tags}>")
    lines += [f"    <Choice {_attr(value=tag)}/>" for tag in sorted(KNOWN_TAGS)]
    lines.append("  </Choices>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def guess_line(labels: dict[str, str]) -> str:
    """'complaint · negative · yes · high' in taxonomy order (heads without a label left out)."""
    return " · ".join(labels[h.name] for h in HEADS if labels.get(h.name) in h.labels)


def hint_line(labels: dict[str, str], title: str = "Model's guess") -> str:
    """The guess with the key that accepts each label, e.g. "Model's guess: 1 complaint · q negative"."""
    keyed = [
        f"{h.hotkeys[h.index(labels[h.name])]} {labels[h.name]}"
        for h in HEADS
        if labels.get(h.name) in h.labels
    ]
    if not keyed:
        return ""
    return f"{title}: {' · '.join(keyed)} (not pre-selected: press these keys to accept)"


def fallback_guidelines() -> str:
    """Instructions built from the taxonomy, used until docs/labeling-guidelines.md exists."""
    parts = [f"# Labeling guidelines (taxonomy {TAXONOMY_VERSION})", ""]
    for head in HEADS:
        keys = ", ".join(
            f"`{k}` {label}" for k, label in zip(head.hotkeys, head.labels, strict=True)
        )
        parts += [f"## {head.name}", head.description, "", f"Hotkeys: {keys}", ""]
    return "\n".join(parts)


def guidelines_markdown(path: Path | None = None) -> tuple[str, Path | None]:
    """The guidelines text and the file it came from (None when the fallback was used)."""
    path = path or GUIDELINES
    if path.is_file():
        return path.read_text(encoding="utf-8"), path
    return fallback_guidelines(), None


def markdown_to_html(text: str) -> str:
    """Render Markdown for Label Studio's instructions panel, raw HTML disabled."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # rich brings markdown-it-py; keep a readable fallback anyway
        return f"<pre>{escape(text)}</pre>"
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
