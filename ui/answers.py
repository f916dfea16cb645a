"""Drawing a chat answer: its stages as they happen, the streamed text, citation chips, abstentions.

An answer is drawn from its typed form (:class:`rag.Answer`); a stored message carries the same typed
answer (``StoredMessage.answer``), so a fresh answer and one reloaded from PostgreSQL look the same.
While an answer is prepared, an ``st.status`` box above it follows the engine's
:class:`rag.AnswerProgress` events (searching, passages found, reranking, writing, checking).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence

import streamlit as st

from rag import Answer, AnswerProgress, AnswerStream, Citation
from ui.markdown import bold, markdown_text
from ui.source_view import source_button
from ui.state import PAGE_INSPECTOR, get_engine
from ui.text import plural

ANSWER_ANYWAY_KEY = "_answer_anyway_request"
"""``st.session_state`` key of the declined message the user asked to answer anyway."""

StartAnswer = Callable[[Callable[[AnswerProgress], None]], AnswerStream]
"""Starts an answer given the progress callback, e.g. ``lambda show: engine.ask(..., on_progress=show)``."""

_QUOTE_RE = re.compile(r"\"([^\"\n]{8,400})\"|“([^”\n]{8,400})”")
_MIN_QUOTE_CHARS = 8


def quoted_spans(answer_text: str) -> list[str]:
    """Quoted passages in an answer (``"..."`` or ``“...”``, 8 to 400 characters), in order."""
    return [m.group(1) or m.group(2) for m in _QUOTE_RE.finditer(answer_text)]


def highlight_html(passage: str, quotes: Sequence[str]) -> str:
    """The passage as escaped HTML, with each occurrence of a quote wrapped in ``<mark>``.

    Matching ignores case and runs of whitespace, so a quote that reflows a line break still
    matches. Newlines become ``<br>``.

    Args:
        passage: The cited passage (plain text).
        quotes: Spans the answer quotes (see :func:`quoted_spans`).

    Returns:
        HTML safe to pass to ``st.html`` (every character of the passage is escaped).
    """
    spans: list[tuple[int, int]] = []
    for quote in quotes:
        words = quote.split()
        if len(quote.strip()) < _MIN_QUOTE_CHARS or not words:
            continue
        pattern = re.compile(r"\s+".join(re.escape(w) for w in words), re.IGNORECASE)
        spans.extend(m.span() for m in pattern.finditer(passage))
    spans.sort()
    out: list[str] = []
    position = 0
    for start, end in spans:
        if start < position:  # overlapping quotes: keep the first
            continue
        out.append(html.escape(passage[position:start]))
        out.append(f"<mark>{html.escape(passage[start:end])}</mark>")
        position = end
    out.append(html.escape(passage[position:]))
    return "".join(out).replace("\n", "<br>")


OCR_BADGE = ":orange-badge[:material/document_scanner: OCR]"
"""Shown next to a passage whose text was read by OCR (Streamlit Markdown badge)."""
OCR_HELP = (
    "This passage was read by OCR from a scanned page or an image: a character may be misread, "
    "so check a figure or a name against the page itself."
)


def chip_label(citation: Citation) -> str:
    """``[2] Title · p. 3`` (title cut to 40 characters; `` · OCR`` when read by OCR) for a chip, as safe Markdown."""
    title = citation.title or citation.source_name or "untitled"
    if len(title) > 40:
        title = title[:39] + "…"
    pages = citation.pages_label
    label = f"[{citation.number}] {title}" + (f" · {pages}" if pages else "")
    return markdown_text(label + (" · OCR" if citation.from_ocr else ""))


def render_passage(citation: Citation, quotes: Sequence[str] = (), source_key: str | None = None) -> None:
    """Title, page, heading path and the passage text (quoted spans highlighted).

    With ``source_key`` (a widget key unique on the page) a "Show in document" button opens the
    passage in its source (``ui.source_view``).
    """
    st.markdown(bold(citation.title or citation.source_name))
    where = [citation.pages_label, " › ".join(citation.heading_path), citation.source_name]
    badge = f"{OCR_BADGE} " if citation.from_ocr else ""
    st.caption(
        badge + markdown_text(" · ".join(part for part in where if part)), help=OCR_HELP if badge else None
    )
    st.html(
        "<div style='max-height:22rem;overflow-y:auto;font-size:0.9rem;line-height:1.45;"
        "border-left:3px solid #c9a227;padding-left:0.75rem'>"
        f"{highlight_html(citation.text, quotes)}</div>"
    )
    if source_key is not None:
        source_button(get_engine(), citation.chunk_id, source_key)


def render_citations(citations: Sequence[Citation], answer_text: str, message_id: int | None = None) -> None:
    """One clickable chip per cited passage; clicking opens the passage in a popover.

    For a stored answer (``message_id``) the popover also opens the passage in its document.
    """
    quotes = quoted_spans(answer_text)
    with st.container(horizontal=True, gap="small"):
        for citation in citations:
            with st.popover(chip_label(citation), icon=":material/format_quote:"):
                key = None if message_id is None else f"source-{message_id}-{citation.number}"
                render_passage(citation, quotes, source_key=key)


def render_sources(label: str, sources: Sequence[Citation], message_id: int | None = None) -> None:
    """An expander listing passages (abstentions and uncited answers show what was found).

    For a stored answer (``message_id``) each passage can be opened in its document.
    """
    if not sources:
        st.caption("No passage was retrieved.")
        return
    with st.expander(label, icon=":material/find_in_page:"):
        for index, source in enumerate(sources):
            key = None if message_id is None else f"source-{message_id}-passage-{index}"
            render_passage(source, source_key=key)


def render_answer(answer: Answer, message_id: int | None) -> None:
    """Draw a finished answer (fresh, or read back from a stored message).

    Args:
        answer: The answer.
        message_id: The stored message id (enables the Inspect button), or ``None``.
    """
    text = answer.text
    if answer.below_threshold:
        st.info(
            f"Answered at your request although the evidence is weak: {answer.evidence_statement()}. "
            "Check it against the cited passages.",
            icon=":material/warning:",
        )
    if answer.abstained:
        st.warning(markdown_text(text), icon=":material/search_off:")
        if answer.abstained_before_llm:
            st.caption(f"{answer.evidence_statement()}, so the model was not asked.")
        render_sources("Closest passages", answer.sources, message_id)
        if answer.abstained_before_llm and answer.sources and message_id is not None:
            st.button(
                "Answer anyway",
                key=f"answer-anyway-{message_id}",
                icon=":material/quick_reference_all:",
                on_click=request_answer_anyway,
                args=(message_id,),
                help="Ask the model to answer from the closest passages although the evidence is below "
                "what answering needs. The answer is still cited and checked against the passages. "
                + (f"Decision: {answer.decision_reason}." if answer.decision_reason else ""),
            )
    elif answer.extractive:
        st.info(
            "The model's answer could not be verified against your documents "
            f"({markdown_text('; '.join(answer.problems))}). These passages are quoted as written:",
            icon=":material/format_quote:",
        )
        st.markdown(markdown_text(text))
        if answer.citations:
            render_citations(answer.citations, text, message_id)
        if answer.model_text:
            with st.expander("The model's unverified answer", icon=":material/warning:"):
                st.markdown(markdown_text(answer.model_text))
    else:
        st.markdown(markdown_text(text))
        if answer.citations:
            render_citations(answer.citations, text, message_id)
        if answer.uncited:
            st.warning(
                "This answer cites none of your documents: check it against the passages below.",
                icon=":material/report:",
            )
            render_sources("Passages given to the model", answer.sources, message_id)
        if answer.dangling_markers:
            st.caption(f"{answer.dangling_markers} citation marker(s) named no passage and were removed.")
    if answer.standalone_question and answer.standalone_question != answer.question.strip():
        st.caption(f"Searched as: {markdown_text(answer.standalone_question)}")
    elif answer.rewrite_note:
        st.caption(f"Searched as you asked it: {markdown_text(answer.rewrite_note)}.")
    _footer(answer, message_id)


def _footer(answer: Answer, message_id: int | None) -> None:
    total_ms = answer.timings_ms.get("total")
    parts = [f"`{answer.model.replace('`', '')}`"]
    if total_ms is not None:
        parts.append(f"{total_ms / 1000:.1f} s")
    if answer.prompt_tokens or answer.completion_tokens:
        parts.append(f"{answer.prompt_tokens} + {answer.completion_tokens} tokens")
    if answer.cost_usd is not None:
        parts.append(f"\\${answer.cost_usd:.4f}")
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(" · ".join(parts))
        if message_id is not None and st.button(
            "Inspect",
            key=f"inspect-{message_id}",
            icon=":material/manage_search:",
            type="tertiary",
            help="Open this answer's retrieval trace and prompt in the Inspector",
        ):
            st.switch_page(PAGE_INSPECTOR, query_params={"message": str(message_id)})


def request_answer_anyway(message_id: int) -> None:
    """Ask for an answer to the declined ``message_id`` on the next run (the Answer anyway button)."""
    st.session_state[ANSWER_ANYWAY_KEY] = message_id


def pop_answer_anyway_request() -> int | None:
    """The declined message the user asked to answer anyway since the last run, if any (then forgotten)."""
    return st.session_state.pop(ANSWER_ANYWAY_KEY, None)


def progress_label(event: AnswerProgress) -> str:
    """What an answer's stage means, in words (the label of the status box above the answer)."""
    match event.stage:
        case "rewrite":
            return "Rewriting your follow-up as a question of its own…"
        case "search":
            return "Searching your documents…"
        case "rerank":
            return f"Reranking {plural(event.candidates, 'candidate')} with the cross-encoder…"
        case "found":
            found = f"Found {plural(event.passages, 'passage')}"
            return found if event.candidates <= event.passages else f"{found}, the best of {event.candidates}"
        case "declined":
            return "Too little evidence in the passages: the model is not asked"
        case "write":
            return f"Writing the answer with `{event.model}`…"
        case "verify":
            return "Checking the answer against the passages…"
        case "done":
            return f"Done in {event.elapsed_ms / 1000:.1f} s"
    return event.stage


def stream_answer(start: StartAnswer) -> Answer | None:
    """Prepare an answer with its stages shown as they happen, stream its text, then draw it whole.

    A status box (``st.status``) above the answer names the current stage and keeps one line per
    stage with the time it started; it collapses, complete, when the answer is drawn.

    Args:
        start: Starts the answer with the given progress callback (:data:`StartAnswer`).

    Returns:
        The finished :class:`~rag.Answer` (``None`` if the stream ended without one).

    Raises:
        RagError: retrieval or the LLM failed (the status box turns red; the caller shows the error).
    """
    status = st.status("Searching your documents…", expanded=True)

    def show(event: AnswerProgress) -> None:
        label = progress_label(event)
        status.markdown(f"{label} · {event.elapsed_ms / 1000:.1f} s")
        if event.stage == "done":
            status.update(label=label, state="complete", expanded=False)
        else:
            status.update(label=label, state="running")

    placeholder = st.empty()
    try:
        stream = start(show)
        # Not st.write_stream: it renders the raw deltas as Markdown, so an image the model writes
        # would be fetched while it streams. The text so far is redrawn through markdown_text instead.
        text = ""
        for delta in stream:
            text += delta
            placeholder.markdown(markdown_text(text))
    except Exception:
        status.update(label="The answer could not be prepared", state="error", expanded=False)
        raise
    answer = stream.answer
    if answer is not None:
        with placeholder.container():
            render_answer(answer, answer.message_id)
    return answer
