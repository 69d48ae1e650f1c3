"""The kit's colours and styles, defined once: the frontend's theme variables with fallbacks.

Every HTML the kit renders takes its colours from here. Each colour is JupyterLab's variable
(``--jp-*``, also defined by Notebook 7), then VS Code's (``--vscode-*``, defined in its output
webviews), then Colab's (``--colab-*``), then a fixed colour. Text is never given a fixed
colour: it takes the theme's own text colour, so that it reads on the theme's own background,
light or dark. Colours signal through borders, bars, backgrounds that are translucent where no
theme says otherwise, and short bold status words.
"""

from __future__ import annotations

import html
import re


def _var(*names: str, fallback: str) -> str:
    """``var(--a, var(--b, fallback))``: the first variable the frontend defines."""
    css = fallback
    for name in reversed(names):
        css = f"var(--{name}, {css})"
    return css


TEXT = _var(
    "jp-content-font-color1",
    "vscode-editor-foreground",
    "colab-primary-text-color",
    fallback="inherit",
)
MUTED = _var(
    "jp-content-font-color2",
    "vscode-descriptionForeground",
    "colab-secondary-text-color",
    fallback="inherit",
)
BORDER = _var(
    "jp-border-color1",
    "vscode-panel-border",
    "colab-border-color",
    fallback="rgba(128, 128, 128, 0.5)",
)
OK = _var("jp-success-color0", "vscode-testing-iconPassed", "colab-status-okay", fallback="#1a7f37")
ERROR = _var(
    "jp-error-color1", "vscode-errorForeground", "colab-error-icon-color", fallback="#cf222e"
)
WARN = _var(
    "jp-warn-color0", "vscode-editorWarning-foreground", "colab-status-warning", fallback="#9a6700"
)
# Translucent where no theme defines one: it tints whatever background the theme has.
ERROR_BACKGROUND = _var(
    "jp-rendermime-error-background",
    "vscode-inputValidation-errorBackground",
    fallback="rgba(207, 34, 46, 0.12)",
)
BAR = _var(
    "jp-brand-color1", "vscode-textLink-foreground", "colab-anchor-color", fallback="#4c8bf5"
)
MONOSPACE = _var("jp-code-font-family", "vscode-editor-font-family", fallback="monospace")
# Colours that tell things apart (a document's labels, a conversation's speakers), taken in
# turn: the theme's own, darker in a light theme and lighter in a dark one (JupyterLab's
# brand, warning, success, visited-link and info colours; VS Code's chart colours).
PALETTE = (
    _var("jp-brand-color1", "vscode-charts-blue", fallback="#1976d2"),
    _var("jp-warn-color1", "vscode-charts-orange", fallback="#f57c00"),
    _var("jp-success-color1", "vscode-charts-green", fallback="#388e3c"),
    _var("jp-content-link-visited-color", "vscode-charts-purple", fallback="#7b1fa2"),
    _var("jp-info-color1", "vscode-charts-yellow", fallback="#0097a7"),
    _var("jp-error-color1", "vscode-charts-red", fallback="#d32f2f"),
)


def bold(text: str, colour: str) -> str:
    """``text`` in bold, in ``colour`` (one of the theme colours above): a status word."""
    return f'<b style="color:{colour}">{html.escape(text)}</b>'


def line(text: str, colour: str) -> str:
    """One line of monospace text in ``colour`` (a reload's, a notebook run's)."""
    return f'<div style="color:{colour};font-family:{MONOSPACE}">{html.escape(text)}</div>'


def message(text: str) -> str:
    """A kit message as HTML: escaped, `code` spans as <code>, one line per line."""
    escaped = html.escape(text)
    return re.sub(r"`([^`\n]+)`", r"<code>\1</code>", escaped).replace("\n", "<br>")


def error_box(what: str, trace: str = "", cls: str = "handler-kit-error") -> str:
    """An error: its message in the theme's text colour on an error background, then a trace."""
    pre = (
        f'<pre style="margin:4px 0 0;padding:0;white-space:pre-wrap;background:transparent;'
        f'color:inherit;font-family:{MONOSPACE}">{html.escape(trace)}</pre>'
        if trace.strip()
        else ""
    )
    return (
        f'<div class="{cls}" style="border-left:4px solid {ERROR};padding:4px 8px;'
        f'background:{ERROR_BACKGROUND};color:{TEXT}"><b>{message(what)}</b>{pre}</div>'
    )


def table_style() -> str:
    """Inline style of a table: collapsed borders in the theme's border colour."""
    return f"border-collapse:collapse;color:{TEXT}"


def cell_style(align: str = "left") -> str:
    """Inline style of a table cell."""
    return f"padding:2px 8px;text-align:{align};border-bottom:1px solid {BORDER}"
