"""infra/README.md as a new user runs it: every tool it calls is a listed prerequisite, and its
edits of the manifests (the `sed -i` lines) find what they replace and still render."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from .conftest import REPO

README = REPO / "infra/README.md"
FAKE_OUTPUTS = {"pipeline_root": "s3://team-kfp/pipeline-root", "region": "europe-west4",
                "mlflow_artifacts_destination": "s3://team-mlflow/artifacts"}


def _commands() -> list[str]:
    """The shell lines of the README's bash blocks, continuations joined, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    text = re.sub(r"\\\n\s*", " ", "\n".join(blocks))
    return [line.split(" #")[0].strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _prerequisites() -> set[str]:
    table = README.read_text().split("| tool | version | used for |", 1)[1].split("\n\n", 1)[0]
    return {tool for row in table.splitlines()[2:] for tool in re.findall(r"`([\w-]+)", row.split("|")[1])}


def test_every_tool_the_steps_call_is_a_listed_prerequisite_with_a_version():
    listed = _prerequisites()
    assert {"gcloud", "terraform", "kubectl", "docker", "aws", "make", "openssl", "sed"} <= listed
    shell = {"cd", "export", "cat", "for", "do", "done", "ns", "NS=team-a", "HMAC_ID", "HMAC_SECRET", "EOF",
             "kubeflow:", "image:", "train_image:", "s3_endpoint_url:", "checkpoint_uri:", "spladeforge"}
    used = set()
    for line in _commands():
        for part in re.split(r"&&|\||;|\$\(|\(", line):
            words = part.split()
            if words and re.fullmatch(r"[a-z][\w-]*", words[0]):
                used.add(words[0])
    assert used - shell <= listed, used - shell - listed
    assert "kustomize" not in used  # kubectl's own kustomize: no second binary to install
    assert "_PLACEHOLDER" not in README.read_text()
    checklist = README.read_text().split("## Checklist", 1)[1].split("## Choices", 1)[0]
    assert {word for word in re.findall(r"`(aws|gcloud|kubectl|spladeforge) ", checklist)} <= listed | {"spladeforge"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_the_readmes_manifest_edits_apply_and_render(tmp_path):
    infra = tmp_path / "infra"
    shutil.copytree(REPO / "infra", infra)
    edits = [line for line in _commands() if line.startswith("sed -i") and "infra/" in line]
    assert len(edits) >= 4, edits
    for line in edits:
        command = re.sub(r"\$\(terraform -chdir=\S+ output -raw (\w+)\)", lambda m: FAKE_OUTPUTS[m.group(1)], line)
        path = re.search(r"(infra/\S+)$", command).group(1)
        before = (tmp_path / path).read_text()
        proc = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / path).read_text() != before, f"{line!r} replaced nothing"
    launcher = yaml.safe_load((infra / "kfp/kfp-launcher.yaml").read_text())
    assert launcher["data"]["defaultPipelineRoot"] == FAKE_OUTPUTS["pipeline_root"]
    assert yaml.safe_load(launcher["data"]["providers"])["s3"]["default"]["region"] == "europe-west4"
    proc = subprocess.run(["kubectl", "kustomize", str(infra / "mlflow")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "Deployment"}
    pod = docs["mlflow"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "ghcr.io/my-org/spladeforge-mlflow:3.17.2"
    assert pod["imagePullSecrets"] == [{"name": "ghcr-pull"}]  # the secret step 2 creates in mlflow
    assert "s3://team-mlflow/artifacts" in proc.stdout


def test_the_pull_secret_and_the_profiles_launcher_have_commands():
    commands = _commands()
    assert any("create secret docker-registry ghcr-pull" in c and "for ns in kubeflow mlflow" in c for c in commands)
    assert "kubectl -n $NS apply --server-side --force-conflicts -f infra/kfp/kfp-launcher.yaml" in commands
    launcher = yaml.safe_load((REPO / "infra/kfp/kfp-launcher.yaml").read_text())
    assert "namespace" not in launcher["metadata"]  # `-n` decides where it goes
    for patch in ("workflow-controller-configmap.yaml", "workflow-controller-deployment.yaml"):
        assert any(c.startswith("kubectl -n kubeflow patch") and c.endswith(f"infra/kfp/{patch}") for c in commands)
