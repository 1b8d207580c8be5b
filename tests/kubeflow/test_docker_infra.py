"""Dockerfiles, Kubernetes manifests and Terraform: parsed and checked for structure (no cluster)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from spladeforge.config import KubeflowConfig

from .conftest import REPO

DOCKER = REPO / "docker"
INFRA = REPO / "infra"


def instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


@pytest.mark.parametrize("name", ["cpu.Dockerfile", "cuda.Dockerfile"])
def test_images_are_multi_stage_pinned_non_root(name):
    steps = instructions(DOCKER / name)
    stages = [args for op, args in steps if op == "FROM"]
    assert len(stages) == 2 and stages[0].endswith("AS build") and stages[1].endswith("AS runtime")
    runs = " ".join(args for op, args in steps if op == "RUN")
    assert "-c constraints.txt" in runs and "pip install -c constraints.txt -r requirements.txt" in runs
    assert "pip wheel --no-deps" in runs and "pip install -e" not in runs
    runtime = steps[[i for i, (op, _) in enumerate(steps) if op == "FROM"][1]:]
    assert ("COPY", "--from=build /opt/venv /opt/venv") in runtime
    assert not any(op == "COPY" and "src" in args for op, args in runtime), "sources go in the build stage"
    users = [args for op, args in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = " ".join(args for op, args in runtime if op == "ENV")
    assert "PATH=/opt/venv/bin" in env and "HF_HUB_OFFLINE=1" in env
    # Only the pins, package metadata and sources go into the build context.
    ignore = (DOCKER / f"{name}.dockerignore").read_text().split()
    kept = ignore[ignore.index("*") + 1:][:4]
    assert kept == ["!constraints.txt", "!pyproject.toml", "!README.md", "!src/"]


def test_cpu_and_cuda_images_differ_only_in_the_torch_index():
    cpu, cuda = (instructions(DOCKER / n) for n in ("cpu.Dockerfile", "cuda.Dockerfile"))
    differ = [(a, b) for a, b in zip(cpu, cuda, strict=True) if a != b]
    assert [a[1].split("=")[0] for a, _ in differ if a[0] == "ARG"] == ["TORCH_INDEX_URL"]
    assert all(a[0] in ("ARG", "LABEL") for a, _ in differ), differ
    assert any("whl/cu" in b[1] for _, b in differ)


def test_images_named_in_the_config_are_the_ones_built():
    cfg = KubeflowConfig()
    assert "spladeforge-cuda" in cfg.train_image
    assert "build -f docker/cuda.Dockerfile -t spladeforge-cuda" in (DOCKER / "cuda.Dockerfile").read_text()


def _docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_kustomizations_list_existing_files():
    for folder in ("kfp", "mlflow"):
        kust = yaml.safe_load((INFRA / folder / "kustomization.yaml").read_text())
        assert kust["kind"] == "Kustomization"
        for res in kust["resources"]:
            if not res.startswith("github.com/"):
                assert (INFRA / folder / res).is_file(), res
    kfp = yaml.safe_load((INFRA / "kfp/kustomization.yaml").read_text())
    remote = [r for r in kfp["resources"] if r.startswith("github.com/kubeflow/pipelines")]
    assert remote and remote[0].endswith("?ref=2.17.0")  # same KFP as the SDK pin


def test_checkpoint_pvc_and_secret_names_match_the_pipeline():
    cfg = KubeflowConfig()
    (pvc,) = _docs(INFRA / "kfp/checkpoints-pvc.yaml")
    assert pvc["kind"] == "PersistentVolumeClaim" and pvc["metadata"]["name"] == cfg.checkpoint_pvc
    secrets = {d["metadata"]["name"]: d for d in _docs(INFRA / "kfp/secrets.example.yaml")}
    assert set(secrets) == {cfg.hf_secret, cfg.aws_secret, cfg.mlflow_secret, cfg.openai_secret}
    from spladeforge.pipelines.placement import AWS_KEYS, HF_KEYS, MLFLOW_KEYS, OPENAI_KEY

    expected = ((cfg.hf_secret, HF_KEYS), (cfg.aws_secret, AWS_KEYS), (cfg.mlflow_secret, MLFLOW_KEYS),
                (cfg.openai_secret, {OPENAI_KEY: None}))
    for name, keys in expected:
        assert set(secrets[name]["stringData"]) == set(keys)
        assert all(v in ("",) or v.startswith("http://mlflow.") for v in secrets[name]["stringData"].values())
    kfp = yaml.safe_load((INFRA / "kfp/kustomization.yaml").read_text())
    assert "secrets.example.yaml" not in kfp["resources"]


def test_mlflow_uses_postgres_and_s3_with_credentials_from_secrets():
    docs = {(d["kind"], d["metadata"]["name"]): d for f in ("mlflow.yaml", "postgres.yaml")
            for d in _docs(INFRA / "mlflow" / f)}
    deploy = docs[("Deployment", "mlflow")]["spec"]["template"]["spec"]
    args = " ".join(deploy["containers"][0]["args"])
    assert "--backend-store-uri=postgresql://" in args
    assert "--artifacts-destination=$(ARTIFACTS_DESTINATION)" in args
    assert deploy["securityContext"]["runAsNonRoot"] is True
    kust = yaml.safe_load((INFRA / "mlflow/kustomization.yaml").read_text())
    literals = dict(x.split("=", 1) for x in kust["configMapGenerator"][0]["literals"])
    assert literals["ARTIFACTS_DESTINATION"].startswith("s3://")
    env = {e["name"]: e for e in deploy["containers"][0]["env"]}
    for name in ("POSTGRES_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    pg = docs[("StatefulSet", "mlflow-postgres")]
    assert pg["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert docs[("Service", "mlflow-postgres")]["spec"]["ports"][0]["port"] == 5432
    assert "psycopg2-binary==" in (DOCKER / "mlflow.Dockerfile").read_text()


def test_terraform_h100_pool_scales_to_zero_with_the_pipelines_taint_and_label():
    tf = (INFRA / "terraform/gke-h100/main.tf").read_text()
    pool = tf[tf.index('resource "google_container_node_pool" "h100"'):]
    cfg = KubeflowConfig()
    assert re.search(r"total_min_node_count\s*=\s*0", pool) and re.search(r"initial_node_count\s*=\s*0", pool)
    assert f'type  = "{cfg.node_selector_value}"' in pool  # GKE labels the nodes gke-accelerator=<type>
    assert cfg.node_selector_key == "cloud.google.com/gke-accelerator"
    taint = re.search(r'taint \{\s*key\s*=\s*"([^"]+)"\s*value\s*=\s*"([^"]+)"\s*effect\s*=\s*"([^"]+)"',
                      pool)
    assert taint and taint.groups() == (cfg.toleration_key, cfg.toleration_value, "NO_SCHEDULE")
    assert cfg.toleration_effect == "NoSchedule"
    assert re.search(r"spot\s*=\s*var\.gpu_spot", pool)
    assert (INFRA / "README.md").is_file()


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform not installed")
def test_terraform_is_formatted():
    proc = subprocess.run(["terraform", "fmt", "-check", "-recursive", str(INFRA / "terraform")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
