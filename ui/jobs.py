"""The jobs panel of the Upload page: live progress of background ingest jobs, read from the database only.

Everything shown comes from :meth:`rag.Engine.jobs` (PostgreSQL), so the panel survives a browser reload
and is the same in a second browser; it refreshes itself every :data:`REFRESH_S` seconds
(``st.fragment(run_every=...)``) without rerunning the page.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from rag import Engine, Job
from ui.errors import guard
from ui.markdown import markdown_text
from ui.text import plural

REFRESH_S = 1.5
"""Seconds between two refreshes of the panel."""
PANEL_JOBS = 100
"""Most recent jobs the panel reads."""
RATE_WINDOW = dt.timedelta(minutes=10)
"""Jobs finished within this window give the panel's chunks/s and bytes/s (hence its ETA)."""

# A running job's bar by stage: the ingestor reports stages, not a fraction of one file.
_STAGE_FRACTION = {"queued": 0.0, "parsing": 0.1, "chunking": 0.25, "embedding": 0.5, "storing": 0.9}


def job_fraction(job: Job) -> float:
    """A job's progress bar value in [0, 1]: by stage while it runs, 1 once finished."""
    if job.finished:
        return 1.0
    if job.stage == "parsing" and job.pages_total:
        return 0.1 + 0.15 * job.pages_done / job.pages_total
    return _STAGE_FRACTION.get(job.stage, 0.0)


def job_label(job: Job) -> str:
    """``report.pdf: embedding, 120 chunks stored so far (attempt 2)``."""
    text = f"{job.source_name}: {job.stage}"
    if job.stage == "parsing" and job.pages_total:
        text += f", OCR page {job.pages_done} of {job.pages_total}"
    if job.chunks_done:
        text += f", {plural(job.chunks_done, 'chunk')} stored"
    if job.attempts > 1:
        text += f" (attempt {job.attempts})"
    return text


def totals(jobs: list[Job], now: dt.datetime | None = None) -> tuple[str, float]:
    """The panel's summary line and overall fraction: files done of all open and recent, chunks/s, ETA.

    chunks/s and bytes/s are over the jobs finished ``done`` within :data:`RATE_WINDOW` (their own run
    times summed, so idle time between uploads does not count); the ETA is the open jobs' bytes at that rate.
    """
    now = now or dt.datetime.now(dt.UTC)
    open_jobs = [j for j in jobs if not j.finished]
    recent = [j for j in jobs if j.stage == "done" and j.finished_at and now - j.finished_at <= RATE_WINDOW]
    seconds = sum(j.seconds or 0.0 for j in recent)
    chunk_rate = sum(j.chunks_done for j in recent) / seconds if seconds > 0 else None
    byte_rate = sum(j.size_bytes for j in recent) / seconds if seconds > 0 else None
    batch = open_jobs + recent
    fraction = sum(job_fraction(j) for j in batch) / len(batch) if batch else 1.0
    parts = [
        f"{len(recent)} of {plural(len(batch), 'file')} done",
        f"{sum(j.chunks_done for j in batch)} chunks",
    ]
    if chunk_rate is not None:
        parts.append(f"{chunk_rate:.0f} chunks/s")
    if open_jobs and byte_rate:
        eta = sum(j.size_bytes for j in open_jobs) / byte_rate
        parts.append(f"about {eta:.0f} s left")
    return " · ".join(parts), fraction


def finished_frame(jobs: list[Job]) -> pd.DataFrame:
    """Done and cancelled jobs as a table: file, collection, stage, chunks, seconds, outcome."""
    rows = [
        {
            "file": j.source_name,
            "collection": j.collection,
            "stage": j.stage,
            "chunks": j.chunks_done,
            "seconds": round(j.seconds or 0.0, 2),
            "outcome": j.outcome or "",
        }
        for j in jobs
        if j.stage in ("done", "cancelled")
    ]
    return pd.DataFrame(rows, columns=["file", "collection", "stage", "chunks", "seconds", "outcome"])


@st.fragment(run_every=REFRESH_S)
def jobs_panel(engine: Engine) -> None:
    """Draw the panel: totals, a bar per open job with Cancel, failed jobs with reason and Retry, a finished table."""
    with guard():
        jobs = engine.jobs(limit=PANEL_JOBS)
    if not jobs:
        st.caption("No background jobs yet: files you ingest appear here with their progress.")
        return
    st.subheader("Background jobs")
    summary, fraction = totals(jobs)
    st.progress(fraction, text=summary)
    for job in (j for j in jobs if not j.finished):
        bar, button = st.columns([6, 1], vertical_alignment="bottom")
        bar.progress(job_fraction(job), text=markdown_text(job_label(job)))
        if button.button("Cancel", key=f"job-cancel-{job.id}", icon=":material/cancel:"):
            with guard():
                engine.cancel_job(job.id)
            st.rerun(scope="fragment")
    for job in (j for j in jobs if j.stage == "failed"):
        message, button = st.columns([6, 1], vertical_alignment="center")
        message.error(markdown_text(f"{job.source_name} failed: {job.error}"), icon=":material/error:")
        if button.button("Retry", key=f"job-retry-{job.id}", icon=":material/refresh:"):
            with guard():
                engine.retry_job(job.id)
            st.rerun(scope="fragment")
    finished = finished_frame(jobs)
    if len(finished):
        st.dataframe(finished, hide_index=True, width="stretch")
