"""Settings: the embedding model, the reranker (status, download) and the LLM (choose, test, use)."""

import streamlit as st

from ui import state
from ui.errors import guard
from ui.settings import render_embedding, render_llm, render_reranker

state.require_app_shell()
engine = state.get_engine()

st.title("Settings")
st.caption(
    "The models this installation uses. A choice made here applies to every session and to the `rag` CLI."
)

st.subheader("Language model", divider="gray")
with guard():
    render_llm(engine, mock_response=state.mock_response())

st.subheader("Reranker", divider="gray")
with guard():
    render_reranker(engine)

st.subheader("Embedding model", divider="gray")
with guard():
    render_embedding(engine)
