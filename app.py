"""Chat with your documents: the Streamlit entry point (`streamlit run app.py`).

It loads secrets into the environment, signs the user in (``ui.auth``), gets the process-wide
Engine's view for that user, draws the shared sidebar and runs the page chosen in the navigation.
Pages live in ``pages/``; shared UI code in ``ui/``.
"""

import streamlit as st

from ui import auth, sidebar, state
from ui.errors import guard, show_error, show_flashed

# An emoji favicon is a data: URL; a :material/...: one is fetched from fonts.gstatic.com.
st.set_page_config(page_title="Chat with your documents", page_icon="💬", layout="wide")

state.load_secrets()

page = st.navigation(state.app_pages())

try:
    settings = state.get_shared_engine().settings
    user = auth.require_sign_in(settings)  # the sign-in screen stops the run here
    engine = state.get_engine()
    auth.render_account(settings, user)
    sidebar.render_collection(engine, chat=state.is_chat(page))
except Exception as exc:  # noqa: BLE001 - no engine or no database: explain and stop
    show_error(exc)
    st.stop()

show_flashed()
with guard(), state.app_shell():
    page.run()
sidebar.render_status(engine)
