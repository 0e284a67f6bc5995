"""Settings: connection strings per provider, env aliases, start-up errors that name
the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lucia.connection_string import Provider, parse_connection_string
from lucia.settings import Settings, SettingsError, load_settings


@pytest.mark.parametrize(
    ("raw", "provider"),
    [
        ("Endpoint=https://api.openai.com/v1;AccessKey=sk-x;Model=gpt-4o;Provider=openai",
         Provider.OPENAI),
        ("Endpoint=https://r.openai.azure.com/;AccessKey=k;Model=dep;Provider=azureopenai",
         Provider.AZURE_OPENAI),
        ("Endpoint=http://ollama:11434;AccessKey=ollama;Model=llama3.2;Provider=ollama",
         Provider.OLLAMA),
        ("Endpoint=https://r.services.ai.azure.com/models;AccessKey=k;Model=m;"
         "Provider=azureaiinference", Provider.AZURE_AI_INFERENCE),
        ("Endpoint=https://r.services.ai.azure.com/models;AccessKey=k;Model=m;"
         "Provider=azureinference", Provider.AZURE_AI_INFERENCE),
        ("Provider=offline", Provider.OFFLINE),
        ("", Provider.OFFLINE),
    ],
)
def test_connection_string_selects_provider(raw: str, provider: Provider) -> None:
    assert parse_connection_string(raw).provider is provider


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("Endpoint=http://x;Model=m;Provider=bogus", "unknown Provider 'bogus'"),
        ("Endpoint=ftp://x;AccessKey=k;Model=m;Provider=openai", "Endpoint must be an http"),
        ("Endpoint=http://x;AccessKey=k;Provider=openai", "Model is required"),
        ("Endpoint=http://x;Model=m;Provider=openai", "AccessKey is required"),
        ("Endpoint=http://x;Modle=m;Provider=ollama", "unknown key 'Modle'"),
        ("just-some-text", "is not Key=Value"),
    ],
)
def test_connection_string_rejects_bad_input_with_reason(raw: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_connection_string(raw)


def test_connection_string_repr_hides_the_key() -> None:
    parsed = parse_connection_string(
        "Endpoint=http://x/v1;AccessKey=supersecret;Model=m;Provider=openai")
    assert "supersecret" not in repr(parsed)


def test_settings_read_dotnet_style_and_alias_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__chat-model",
                       "Endpoint=http://ollama:11434;Model=llama3.2;Provider=ollama")
    monkeypatch.setenv("HOMEASSISTANT_URL", "http://ha:8123/")
    monkeypatch.setenv("HOMEASSISTANT_ACCESS_TOKEN", "s3cr3t-ha")
    monkeypatch.setenv("LUCIA_API_KEY", "k")
    settings = load_settings()
    assert settings.chat_model.provider is Provider.OLLAMA
    assert settings.home_assistant_url == "http://ha:8123"
    assert settings.home_assistant_token is not None
    assert settings.home_assistant_token.get_secret_value() == "s3cr3t-ha"
    assert "s3cr3t-ha" not in repr(settings)


def test_settings_error_names_every_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUCIA_PORT", "eighty")
    monkeypatch.setenv("HOMEASSISTANT_URL", "ha.local")
    monkeypatch.setenv("ConnectionStrings__embeddings", "Provider=offline")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert "LUCIA_PORT" in text
    assert "HomeAssistant__BaseUrl / HOMEASSISTANT_URL: Value error, must be an http(s) URL" \
        in text
    assert "ConnectionStrings__embeddings" in text


def test_defaults_are_offline_without_home_assistant() -> None:
    settings = Settings()
    assert settings.chat_model.is_offline
    assert not settings.home_assistant_configured
    assert settings.max_message_chars == 4000


def test_process_exits_2_naming_the_variable_on_bad_config() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lucia"], capture_output=True, text=True, timeout=30,
        env={"LUCIA_PORT": "70000", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "LUCIA_PORT" in result.stderr


def test_secrets_are_read_from_their_file_variables(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path) -> None:
    """Swarm secrets arrive as files: `<VARIABLE>_FILE` names one, its trailing newline
    dropped, for every secret and every alias of it."""
    files = {"REDIS_PASSWORD": "redis-secret\n", "LUCIA_API_KEY": "api-secret",
             "ConnectionStrings__chat-model":
                 "Endpoint=http://llm:8000/v1;AccessKey=k;Model=m;Provider=openai\n",
             "HOMEASSISTANT_ACCESS_TOKEN": "ha-token\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        monkeypatch.setenv(f"{name}_FILE", str(tmp_path / name))
    settings = load_settings()
    assert settings.redis_password is not None
    assert settings.redis_password.get_secret_value() == "redis-secret"
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "api-secret"
    assert settings.chat_model.endpoint == "http://llm:8000/v1"
    assert settings.home_assistant_token is not None
    assert settings.home_assistant_token.get_secret_value() == "ha-token"


def test_a_secret_and_its_file_together_are_refused(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path) -> None:
    (tmp_path / "pw").write_text("from-file")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setenv("REDIS_PASSWORD", "from-env")
    with pytest.raises(SettingsError, match="REDIS_PASSWORD and REDIS_PASSWORD_FILE"):
        load_settings()


def test_an_unreadable_secret_file_names_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path) -> None:
    monkeypatch.setenv("LUCIA_API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match=r"LUCIA_API_KEY_FILE: cannot read .*missing"):
        load_settings()


def test_only_secrets_take_files(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "port").write_text("9999")
    monkeypatch.setenv("LUCIA_PORT_FILE", str(tmp_path / "port"))
    assert load_settings().port == 8080


def test_a_secret_file_and_an_alias_of_its_variable_together_are_refused(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "token").write_text("from-file")
    monkeypatch.setenv("HomeAssistant__AccessToken_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("HOMEASSISTANT_ACCESS_TOKEN", "from-env")
    with pytest.raises(SettingsError, match="HOMEASSISTANT_ACCESS_TOKEN and "
                                            "HomeAssistant__AccessToken_FILE"):
        load_settings()
