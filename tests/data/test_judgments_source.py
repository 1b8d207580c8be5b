"""judgments_uri of the Kubeflow pipeline: the accepted forms, and a folder fetched from a DVC revision."""

from __future__ import annotations

import pytest

from spladeforge.data.judgments_source import fetch_judgments, parse_dvc_uri
from spladeforge.errors import InputError


def test_dvc_uris_parse_with_colons_and_at_signs_in_the_repository():
    assert parse_dvc_uri("dvc://https://github.com/org/data@main:judgments") == (
        "https://github.com/org/data", "main", "judgments")
    assert parse_dvc_uri("dvc://git@github.com:org/data@v2:team/judgments/") == (
        "git@github.com:org/data", "v2", "team/judgments")
    assert parse_dvc_uri("dvc:///srv/data@:judgments") == ("/srv/data", None, "judgments")
    with pytest.raises(InputError, match=r"not dvc://<repo>@<rev>:<path>"):
        parse_dvc_uri("dvc://no-revision-or-path")


def test_empty_is_no_judgments_and_other_schemes_are_refused(tmp_path):
    assert list(fetch_judgments("", tmp_path / "j").iterdir()) == []
    with pytest.raises(InputError, match="is not accepted"):
        fetch_judgments("http://example.invalid/j", tmp_path / "k")
