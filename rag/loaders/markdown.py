"""Markdown loader (LangChain's ``MarkdownHeaderTextSplitter``: one section per heading) and plain text."""

from __future__ import annotations

from rag.loaders.options import LoadOptions
from rag.loaders.text import clean_text, decode_text, single_document
from rag.models import LoadedDocument, Section

_MARKDOWN_HEADERS = [("#" * level, f"h{level}") for level in range(1, 7)]


def load_markdown(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load Markdown: one section per heading (``#`` to ``######``), headings stripped from the text.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document, titled by the first level-1 heading.

    Raises:
        CorruptDocument: The bytes cannot be decoded as text (see :func:`~rag.loaders.text.decode_text`).
    """
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    splitter = MarkdownHeaderTextSplitter(headers_to_split_on=_MARKDOWN_HEADERS, strip_headers=True)
    sections: list[Section] = []
    title = ""
    for part in splitter.split_text(decode_text(data, filename)):
        path = tuple(part.metadata[key] for _, key in _MARKDOWN_HEADERS if part.metadata.get(key))
        title = title or part.metadata.get("h1", "")
        # The splitter strips every line and joins paragraphs that share headings with "  \n".
        sections.append(
            Section(text=clean_text(part.page_content.replace("  \n", "\n\n")), heading_path=path)
        )
    return single_document(data, filename, title, sections)


def load_text(data: bytes, filename: str, options: LoadOptions) -> list[LoadedDocument]:
    """Load plain text as one section, keeping each line's indentation.

    Args:
        data: The file's bytes.
        filename: The file's name, used as ``source_name`` and in error messages.
        options: Unused: every loader takes the same arguments (see :mod:`rag.loaders`).

    Returns:
        One document, titled by the file name without its extension.

    Raises:
        CorruptDocument: The bytes cannot be decoded as text (see :func:`~rag.loaders.text.decode_text`).
    """
    text = clean_text(decode_text(data, filename), keep_indent=True)
    return single_document(data, filename, "", [Section(text=text)])
