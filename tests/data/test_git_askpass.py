"""A private data repository over https: git credentials reach the clone through GIT_ASKPASS
(`spladeforge-git-askpass`), never through the URL, which is a run parameter shown in the KFP UI."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from spladeforge.data.git_askpass import answer

USER, TOKEN = "ci-bot", "ghp_fakeTOKEN0123456789abcdef"
ASKPASS = str(Path(sys.executable).parent / "spladeforge-git-askpass")


def test_answers_git_prompts_from_the_environment():
    env = {"GIT_USERNAME": USER, "GIT_PASSWORD": TOKEN}
    assert answer("Username for 'https://github.com': ", env) == USER
    assert answer(f"Password for 'https://{USER}@github.com': ", env) == TOKEN
    assert answer("Username for 'https://github.com': ", {}) is None  # no answer, not an empty one
    assert answer("Are you sure? ", env) is None


@pytest.fixture()
def private_repo(tmp_path):
    """A git repository served over HTTP on 127.0.0.1 that wants basic auth, like a private GitHub repo."""
    from dulwich.repo import Repo
    from dulwich.server import DictBackend
    from dulwich.web import make_wsgi_chain

    repo = tmp_path / "docs-data"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "docs.md").write_text("# Title\nPrivate documents.\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm",
                    "docs"], check=True)
    app = make_wsgi_chain(DictBackend({"/": Repo(str(repo))}))
    expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()

    def basic_auth(environ, start_response):
        if environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b""]
        return app(environ, start_response)

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, basic_auth, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def clone(url: str, dest: Path, **env: str) -> subprocess.CompletedProcess:
    """scmrepo's clone (the library DVC opens data.dvc_repo with), in a process of its own: it
    caches credentials process-wide."""
    environ = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy", "all_proxy") and not k.startswith("GIT_")}
    environ.update(NO_PROXY="127.0.0.1", GIT_TERMINAL_PROMPT="0", GIT_ASKPASS=ASKPASS, **env)
    code = f"from scmrepo.git import Git; Git.clone({url!r}, {str(dest)!r})"
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_a_private_repository_is_cloned_with_the_askpass_credentials(private_repo, tmp_path):
    done = clone(private_repo, tmp_path / "with", GIT_USERNAME=USER, GIT_PASSWORD=TOKEN)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "with" / "docs.md").read_text().startswith("# Title")
    refused = clone(private_repo, tmp_path / "without")  # no secret mounted: a clear failure, no prompt
    assert refused.returncode != 0 and not (tmp_path / "without" / "docs.md").exists()
    assert TOKEN not in done.stdout + done.stderr + refused.stdout + refused.stderr
