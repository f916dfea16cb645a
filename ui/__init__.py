"""Streamlit helpers shared by ``app.py`` and ``pages/`` (the only code that imports streamlit).

Modules:
    state: the cached :class:`rag.Engine`, secrets, the active collection, the test LLM mock.
    errors: turning ``rag.errors`` exceptions into ``st.error`` messages that say what to do.
    sidebar: the sidebar shown on every page (collection, models, database).
    answers: rendering a chat answer (stream, citation chips, abstention, uncited flag).
    conversations: the conversation list of the Chat page's sidebar.
    ingest: the Upload page's tables (chunk preview, per-document results; no streamlit inside).
    tables: pandas frames for the Corpus and Inspector pages (no streamlit inside).
    inspector: the Inspector's parameter form and trace views.
    evaluation: frames, comparisons and config diffs for the Evaluation page (no streamlit inside).
    text: plural and size labels.
"""
