"""Who is using the app: Streamlit's OIDC sign-in, a trusted proxy's header, or the local single user.

``RAG_AUTH`` (``Settings.auth``) picks the mode (docs/deployment.md):

- ``none``: one person on this machine, the local user; ``.streamlit/config.toml`` binds the server
  to localhost. On a server (``DATABASE_URL`` set, or a non-local ``server.address``) the sidebar
  warns that there is no sign-in.
- ``oidc``: ``st.login`` / ``st.user`` / ``st.logout`` with an ``[auth]`` section in
  ``.streamlit/secrets.toml`` (needs Authlib); the user is the identity token's ``email`` claim
  (``sub`` when the provider sends no e-mail).
- ``trusted-header``: an authenticating proxy puts the user name in ``RAG_AUTH_HEADER`` (default
  ``X-Forwarded-User``), read from ``st.context.headers``. Anyone who reaches the app without the
  proxy can send that header, so the app must be reachable only through the proxy.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from rag import LOCAL_USER, AccessDenied, ConfigError, Settings, check_user_name, is_server_deployment

LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")
"""``server.address`` values that keep the app on this machine."""


def current_user(settings: Settings) -> str:
    """The signed-in user of this browser session (:data:`rag.LOCAL_USER` without sign-in).

    Raises:
        AccessDenied: nobody is signed in (call :func:`require_sign_in` first on every run).
        ConfigError: the proxy's header holds no usable user name.
    """
    if settings.auth == "none":
        return LOCAL_USER
    if settings.auth == "trusted-header":
        value = st.context.headers.get(settings.auth_header)
        if not value:
            raise AccessDenied(f"no {settings.auth_header} header: open the app through the signing-in proxy")
        user = check_user_name(value)
        if user == LOCAL_USER:  # the operator's identity is never handed out by a header
            raise ConfigError(f"{settings.auth_header}: {LOCAL_USER!r} is reserved for the operator's CLI")
        return user
    if not _oidc_signed_in():
        raise AccessDenied("sign in first")
    claims = st.user.to_dict()
    return check_user_name(str(claims.get("email") or claims.get("sub") or ""))


def require_sign_in(settings: Settings) -> str:
    """Return the signed-in user, or draw the sign-in screen and stop the run (call first in ``app.py``).

    Raises:
        ConfigError: the proxy's header holds no usable user name.
    """
    if settings.auth == "oidc":
        providers = oidc_providers()
        if providers is None:
            _stop(
                "Sign-in is not configured",
                "`RAG_AUTH=oidc` needs an `[auth]` section in `.streamlit/secrets.toml` (`redirect_uri`, "
                "`cookie_secret`, `client_id`, `client_secret`, `server_metadata_url`): see "
                "`docs/deployment.md`.",
            )
        if not _oidc_signed_in():
            st.title("Chat with your documents")
            st.write("Sign in to see your documents and conversations.")
            for provider in providers or [None]:
                label = "Sign in" if provider is None else f"Sign in with {provider}"
                if st.button(label, type="primary", icon=":material/login:", key=f"sign-in-{provider}"):
                    if provider:
                        st.login(provider)
                    else:
                        st.login()
            st.stop()
    if settings.auth == "trusted-header" and not st.context.headers.get(settings.auth_header):
        _stop(
            "Not signed in",
            f"This app expects its signing-in proxy to send the `{settings.auth_header}` header, and none "
            "arrived: open the app through the proxy's address.",
        )
    return current_user(settings)


def oidc_providers() -> list[str] | None:
    """The OIDC providers of ``[auth]`` in the secrets: ``[]`` for one unnamed provider, ``None`` for none.

    Named providers are the sub-tables (``[auth.google]``, ``[auth.microsoft]``), as ``st.login``
    takes them.
    """
    auth: Any = st.secrets.get("auth") if st.secrets.load_if_toml_exists() else None
    if not auth or "redirect_uri" not in auth or "cookie_secret" not in auth:
        return None
    named = [name for name, value in auth.items() if hasattr(value, "keys")]
    if named:
        return named
    return [] if "client_id" in auth else None


def render_account(settings: Settings, user: str) -> None:
    """Draw who is signed in (and Sign out) in the sidebar, or warn that a server has no sign-in."""
    with st.sidebar:
        if settings.auth == "none":
            address = str(st.get_option("server.address") or "")
            if is_server_deployment(settings) or (address and address not in LOCAL_ADDRESSES):
                st.warning(
                    "**No sign-in**: everyone who reaches this app acts as the local user and sees all of "
                    "its documents. Set `RAG_AUTH=oidc` or `trusted-header` (docs/deployment.md).",
                    icon=":material/lock_open:",
                )
            return
        st.caption(f"Signed in as {literal(user)}")
        if settings.auth == "oidc" and st.button("Sign out", icon=":material/logout:", key="sign-out"):
            st.logout()


def literal(name: str) -> str:
    """``name`` as a Markdown code span: shown as typed, never a link, an image or formatting."""
    return "`" + name.replace("`", "'") + "`"


def _oidc_signed_in() -> bool:
    return bool(getattr(st.user, "is_logged_in", False))


def _stop(title: str, body: str) -> None:
    st.error(f"**{title}**\n\n{body}", icon=":material/lock:")
    st.stop()
