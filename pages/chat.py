"""Chat: ask questions about the active collection; each answer shows its stages, then its citations.

A declined answer offers "Answer anyway" (the model answers from the closest passages, labelled as
below the evidence threshold). The collection and the open conversation are in the URL.
"""

import streamlit as st

from rag import Filters
from ui import answers, conversations, state
from ui.answers import render_answer, stream_answer
from ui.errors import guard
from ui.markdown import bold, markdown_text
from ui.settings import prepare_reranker
from ui.text import plural

state.require_app_shell()
engine = state.get_engine()
collection = state.active_collection(engine)
documents = engine.documents(collection)

st.title("Chat with your documents")

with st.expander(
    f"Searching {bold(collection)}: {plural(len(documents), 'document')}", icon=":material/filter_alt:"
):
    chosen = st.multiselect(
        "Only these documents",
        [d.id for d in documents],
        format_func={d.id: d.title for d in documents}.get,
        key=f"chat-documents-{collection}",
        placeholder="All documents",
    )
if not documents:
    st.info(
        f"The collection {bold(collection)} has no documents yet: add some on the Upload page.",
        icon=":material/upload_file:",
    )
    st.page_link(state.PAGE_UPLOAD, label="Upload documents", icon=":material/upload_file:")

conversations.forget_if_elsewhere(engine, collection)
conversation_id = conversations.current()
if conversation_id is not None:
    with guard():
        for message in engine.messages(conversation_id):
            with st.chat_message(message.role):
                if message.answer is not None:
                    render_answer(message.answer, message.id)
                else:
                    st.markdown(markdown_text(message.content))

answer_anyway = answers.pop_answer_anyway_request()
if question := st.chat_input("Ask a question about your documents", disabled=not documents, key="chat-input"):
    with guard():
        if conversation_id is None:
            conversation_id = engine.create_conversation(conversations.title_for(question), collection).id
            conversations.open_conversation(conversation_id)
        engine.remember_collection(collection)
        with st.chat_message("user"):
            st.markdown(markdown_text(question))
        with st.chat_message("assistant"):
            prepare_reranker(engine)
            mock = state.mock_response()
            params = engine.default_params(filters=Filters(document_ids=chosen or None))
            with guard():
                stream_answer(
                    lambda show: engine.ask(
                        question,
                        collection=collection,
                        params=params,
                        conversation_id=conversation_id,
                        mock_response=mock,
                        rewrite_mock_response=question if mock is not None else None,
                        on_progress=show,
                    )
                )
elif answer_anyway is not None:
    with guard():
        declined = engine.message(answer_anyway).answer
        with st.chat_message("user"):
            st.markdown(markdown_text(declined.question if declined else ""))
        with st.chat_message("assistant"):
            with guard():
                stream_answer(
                    lambda show: engine.answer_anyway(
                        answer_anyway, mock_response=state.mock_response(), on_progress=show
                    )
                )

conversations.render(engine, collection)
