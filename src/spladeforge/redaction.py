"""Secrets out of everything spladeforge shows or stores: one redaction for every URL-like value.

A credential can ride in a URL in three places: the user part (`https://TOKEN@host`, GitHub's
`https://x-access-token:TOKEN@host`), the password (`https://oauth2:TOKEN@host`) and the query
string (`?token=...`, a presigned S3 URL's `X-Amz-Signature`/`X-Amz-Credential`, an Azure SAS
`sig=`). `redact_url` masks all three; `redact_text` applies it to every URL inside free text (an
error message, a log line) and masks bearer tokens; `redact_params` walks a params tree and also
masks the value of any key that names a secret (`password`, `token`, `secret_access_key`, ...),
except `*_env` keys, which hold the NAME of an environment variable.

Used wherever a params value, a URI or a message is shown or stored: MLflow params and tags, the
model card, stage manifests, publish.json, the decision file, log lines and CLI errors. What DVC
writes to dvc.lock cannot be redacted (it copies params.yaml verbatim), so `credential_in_url`
and `ENV_NAME` let the config refuse such values at load instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"
# Words of a key name (split at `_`, `-` and camelCase) that make its value a credential. Plural
# `tokens` is a count (`max_tokens`); `*_env`, `*_path`, `*_file` keys name where a secret is.
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "secret", "token", "apikey", "credential",
                           "credentials", "signature", "sig", "authorization", "bearer"})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("account", "key"),
                           ("customer", "key"), ("secret", "key"), ("auth", "header")})
_NOT_SECRET_SUFFIXES = ("env", "path", "file", "command", "dir")
# Query-string parameters that carry credentials (OAuth, API keys, presigned S3/GCS/Azure URLs).
SECRET_QUERY = frozenset({
    "token", "access_token", "refresh_token", "id_token", "auth", "authorization", "key", "api_key",
    "apikey", "api-key", "secret", "client_secret", "password", "passwd", "pwd", "sig", "signature",
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
    "x-goog-credential", "private_token", "session_token",
})
# An environment variable's name: what every `*_env` key must hold.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Tokens that also happen to be valid variable names: Hugging Face (hf_...), GitHub (ghp_...,
# github_pat_...), Slack (xoxb-...), and any long mixed-case string with digits, which a variable
# name (UPPER_SNAKE by convention) almost never is; AWS access key ids (AKIA...).
_TOKEN_PREFIX = re.compile(
    r"^((hf|ghp|gho|ghu|ghs|ghr|github_pat|glpat|xox[abprs]|sk|pk|rk)[_-][A-Za-z0-9_-]{12,}|(AKIA|ASIA)[0-9A-Z]{16})$")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{8,}=*", re.I)


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[_\-.\s]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()) if w]


def is_secret_key(key: str) -> bool:
    """Whether a params key (its last dotted part) names a credential rather than where one is."""
    words = _words(str(key).rsplit(".", 1)[-1])
    if not words or words[-1] in _NOT_SECRET_SUFFIXES or words[0] in ("ask", "use"):
        return False
    pairs = zip(words, words[1:], strict=False)
    return bool(_SECRET_WORDS.intersection(words)) or any(pair in _SECRET_PAIRS for pair in pairs)


def _secret_query(name: str) -> bool:
    return name.lower() in SECRET_QUERY or is_secret_key(name)


def credential_in_url(text: str) -> str | None:
    """What credential a URL-like `text` carries (for a message that never shows it), else None."""
    for match in _URL.finditer(text):
        parts = urlsplit(match.group(0))
        if "@" in parts.netloc:
            if parts.password is not None:
                return "a password in the URL (user:password@host)"
            if parts.scheme in ("http", "https") or len(parts.username or "") > 20:
                return "a user name or token in the URL (TOKEN@host)"
        names = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True) if _secret_query(name)]
        if names:
            return f"the query parameter {names[0]!r} in the URL"
    return None


def redact_url(url: str) -> str:
    """`url` with its user, password and credential query parameters replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@\s]*@", f"//{MASK}@", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        query = "&".join(
            f"{piece.split('=', 1)[0]}={MASK}" if "=" in piece and _secret_query(piece.split("=", 1)[0])
            else piece for piece in query.split("&"))
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """Free text with every URL in it redacted and bearer/basic credentials masked."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact_value(key: str, value: Any) -> Any:
    """A params value as it may be shown: masked under a secret key, URLs redacted at any depth."""
    if is_secret_key(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v) for v in value]
    return value


def redact_params(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A params tree (or any JSON-like record) with every secret masked; the input is not changed."""
    return {k: redact_value(str(k), v) for k, v in tree.items()}


def is_env_name(value: str) -> bool:
    """Whether `value` can be an environment variable's name and does not look like a token."""
    if not ENV_NAME.match(value) or _TOKEN_PREFIX.match(value):
        return False
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)
    return not (len(value) >= 20 and mixed)


def masked(value: str) -> str:
    """How a rejected secret-looking value is described in a message: its length, never its text."""
    return f"a {len(value)}-character value"


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's message before a handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = redact_text(message)
        if shown != message:
            record.msg, record.args = shown, None
        return True
