"""`spladeforge-git-askpass`: answers git's credential prompts from GIT_USERNAME / GIT_PASSWORD.

A private data repository (`data.dvc_repo` over https) needs credentials, which must not be part
of the URL (a run parameter, logged and shown in the Kubeflow UI). Git, and scmrepo's dulwich
backend that DVC clones with, ask the program named by GIT_ASKPASS with the prompt as its
argument ("Username for 'https://host': ", "Password for 'https://user@host': ") and read the
answer from its output. In the cluster the two variables come from a Kubernetes Secret
(pipelines/placement.py).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

USERNAME, PASSWORD = "GIT_USERNAME", "GIT_PASSWORD"


def answer(prompt: str, environ: Mapping[str, str]) -> str | None:
    """The answer to one prompt, or None when there is none to give (git then fails to authenticate)."""
    kind = prompt.strip().split(" ", 1)[0].lower()
    value = environ.get(USERNAME if kind == "username" else PASSWORD if kind == "password" else "")
    return value or None


def main() -> None:
    value = answer(sys.argv[1] if len(sys.argv) > 1 else "", os.environ)
    if value is None:
        sys.exit(1)  # no answer: an empty line would be taken as an empty username or password
    sys.stdout.write(value + "\n")


if __name__ == "__main__":
    main()
