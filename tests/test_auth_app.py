"""Sign-in screens of the app, headless (AppTest): OIDC configured or not, and the no-sign-in warning."""

from __future__ import annotations

import pytest
from test_app import APP, served_engine, ui  # noqa: F401 - fixtures

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-only-cookie-secret",
    "client_id": "rag-chat",
    "client_secret": "test-only",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def _run(secrets: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=30)
    for name, value in (secrets or {}).items():
        at.secrets[name] = value
    return at.run()


@pytest.fixture
def oidc(served_engine, monkeypatch):  # noqa: F811
    monkeypatch.setattr(served_engine, "settings", served_engine.settings.with_(auth="oidc"))
    return served_engine


def test_oidc_without_an_auth_section_says_what_is_missing_and_shows_no_data(oidc):
    at = _run()
    assert not at.exception, at.exception
    assert "Sign-in is not configured" in at.error[0].value and "[auth]" in at.error[0].value
    assert not at.selectbox  # no collection selector: nothing of the data is drawn


def test_oidc_shows_a_sign_in_button_until_signed_in(oidc):
    at = _run({"auth": AUTH})
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.selectbox and not at.error


def test_no_sign_in_on_a_database_server_warns(served_engine, monkeypatch):  # noqa: F811
    at = _run()
    assert not any("No sign-in" in w.value for w in at.warning)  # the embedded single-user default
    monkeypatch.setattr(
        served_engine, "settings", served_engine.settings.with_(database_url="postgresql://db.example/rag")
    )
    at = _run()
    assert any("No sign-in" in w.value for w in at.warning)
