"""One redaction for every URL-like value: user, password and credential query parameters, in
params trees, free text and log records; and what counts as a secret key or a variable name."""

from __future__ import annotations

import logging

import pytest

from spladeforge.redaction import (
    RedactingFilter,
    credential_in_url,
    is_env_name,
    is_secret_key,
    redact_params,
    redact_text,
    redact_url,
)

TOKEN = "ghp_FAKEtokenREDACTIONtest0123456789"


@pytest.mark.parametrize(("url", "shown"), [
    (f"https://{TOKEN}@github.com/org/docs.git", "https://***@github.com/org/docs.git"),
    (f"https://oauth2:{TOKEN}@gitlab.example/org/docs.git", "https://***@gitlab.example/org/docs.git"),
    (f"http://bob:{TOKEN}@127.0.0.1:5000/x", "http://***@127.0.0.1:5000/x"),
    (f"https://minio.example/b/k?X-Amz-Credential=AKIA/x&X-Amz-Signature={TOKEN}&part=2",
     "https://minio.example/b/k?X-Amz-Credential=***&X-Amz-Signature=***&part=2"),
    (f"https://api.example/v1?api_key={TOKEN}", "https://api.example/v1?api_key=***"),
    (f"https://acct.blob.core.windows.net/c/b?sv=2020&sig={TOKEN}", "https://acct.blob.core.windows.net/c/b?sv=2020&sig=***"),
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
])
def test_every_place_a_url_carries_a_credential_is_masked(url, shown):
    """The user part, the password and credential query parameters: all three, one function."""
    assert redact_url(url) == shown
    assert TOKEN not in redact_text(f"failed: {url} (retrying)")


def test_credentials_are_described_without_being_shown():
    """What the config's refusal says: which kind of credential, never its text."""
    assert "TOKEN@host" in credential_in_url(f"https://{TOKEN}@host/x")
    assert "password" in credential_in_url(f"ssh://git:{TOKEN}@host/x")
    assert "'token'" in credential_in_url(f"https://host/x?token={TOKEN}")
    assert credential_in_url("ssh://git@github.com/org/repo") is None  # a user name, not a secret
    assert credential_in_url("https://huggingface.co/naver/splade-v3") is None
    assert TOKEN not in credential_in_url(f"https://{TOKEN}@h")


def test_secret_keys_and_variable_names():
    """`*_env` keys name a variable; counts such as max_tokens are no secrets; a pasted token is no name."""
    for key in ("token", "hf_token", "password", "secret_access_key", "access_key_id", "apiKey",
                "sse_customer_key", "custom_auth_header", "X-Amz-Signature"):
        assert is_secret_key(key), key
    for key in ("token_env", "api_key_env", "max_tokens", "max_new_tokens", "credentialpath", "ask_password",
                "node_selector_key", "tracking_uri", "endpointurl"):
        assert not is_secret_key(key), key
    for name in ("HF_TOKEN", "OPENAI_API_KEY", "MY_TOKEN_2", "hf_token"):
        assert is_env_name(name), name
    for value in ("hf_FAKEsecretsTESTtoken0123456789abcdef", "sk-FAKEsecretsTESTopenaiKEY0123456789",
                  "AKIAFAKESECRETSTEST0", "fakeSECRET/accessKEY+test", "aB3dE5fG7hI9jK1lM3nO5"):
        assert not is_env_name(value), value


def test_params_trees_are_masked_at_any_depth_and_not_changed():
    tree = {"data": {"dvc_repo": f"https://{TOKEN}@h/x.git", "dvc_remote_config": {"password": TOKEN}},
            "generate_queries": {"openai": {"api_key_env": "OPENAI_API_KEY", "max_tokens": 256}},
            "train": {"extra_datasets": [f"s3://b/k?X-Amz-Signature={TOKEN}"]}}
    shown = redact_params(tree)
    assert TOKEN not in repr(shown) and TOKEN in repr(tree)
    assert shown["generate_queries"]["openai"] == {"api_key_env": "OPENAI_API_KEY", "max_tokens": 256}
    assert shown["data"]["dvc_remote_config"]["password"] == "***"


def test_log_records_are_redacted(caplog):
    logger = logging.getLogger("spladeforge.test_redaction")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.WARNING):
        logger.warning("retrying %s with Bearer %s", f"https://u:{TOKEN}@h/p", TOKEN)
    assert TOKEN not in caplog.text and "https://***@h/p" in caplog.text
