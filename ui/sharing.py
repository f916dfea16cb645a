"""Sharing a collection from the Corpus page: its owner adds readers and writers or removes them."""

from __future__ import annotations

import streamlit as st

from rag import Engine, NotFound
from ui.auth import literal
from ui.errors import guard

ACCESS_LABELS = {"read": "Read", "write": "Read and write"}
"""What each access level is called in the form (``rag share --read`` / ``--write``)."""


def render_sharing(engine: Engine, collection: str) -> None:
    """Draw who may use ``collection``; its owner also gets a form to share it and Remove buttons.

    Draws nothing for a collection that does not exist yet.
    """
    try:
        members = engine.collection_members(collection)
    except NotFound:
        return
    owner = members[0].user
    others = members[1:]
    is_owner = owner == engine.user
    label = f"Sharing: {len(others)} member(s)" if is_owner else f"Shared with you by {literal(owner)}"
    with st.expander(label, icon=":material/group:"):
        st.caption(f"Owner: {literal(owner)}")
        for member in others:
            with st.container(horizontal=True, vertical_alignment="center"):
                st.markdown(f"{literal(member.user)} · {ACCESS_LABELS[member.access].lower()}")
                if is_owner and st.button("Remove", key=f"unshare-{collection}-{member.user}"):
                    with guard():
                        engine.unshare_collection(member.user, collection)
                        st.rerun()
        if not is_owner:
            return
        with st.form(f"share-{collection}", clear_on_submit=True, border=False):
            user = st.text_input("Share with (user name or e-mail)", key=f"share-user-{collection}")
            access = st.radio(
                "Access",
                list(ACCESS_LABELS),
                format_func=ACCESS_LABELS.__getitem__,
                horizontal=True,
                key=f"share-access-{collection}",
            )
            if st.form_submit_button("Share", icon=":material/person_add:") and user.strip():
                with guard():
                    engine.share_collection(user, access, collection)
                    st.rerun()
