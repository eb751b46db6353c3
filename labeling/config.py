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
TAGS_FIELD = "tags"
CONTEXT_STYLE = "padding: 0 1em; margin-bottom: 0.5em; color: #555; border-left: 3px solid #ccc"


def _attr(**attrs: str) -> str:
    return " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())


def label_config() -> str:
    """Four required single-choice groups (one per head) and optional hard-case tags over
    the mention, with the tweet it replies to shown above it.

    Label Studio shows each choice's hotkey on its button, so no separate legend is needed.
    """
    lines = [
        "<View>",
        f"  <View {_attr(style=CONTEXT_STYLE)}>",
        f"    <Header {_attr(value='In reply to', size='6')}/>",
        f"    <Text {_attr(name=CONTEXT_FIELD, value='$' + CONTEXT_FIELD)}/>",
        "  </View>",
        f"  <Header {_attr(value='Mention', size='5')}/>",
        f"  <Text {_attr(name=TEXT_FIELD, value='$' + TEXT_FIELD)}/>",
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
