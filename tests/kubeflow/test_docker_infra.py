"""Dockerfiles, Kubernetes manifests and Terraform: parsed and checked for structure (no cluster)."""

from __future__ import annotations

import json
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
    assert re.search(r"pip install (--index-url \S+ )?-c constraints.txt( -c constraints-cuda.txt)? "
                     r"-r requirements.txt",
                     runs), runs
    assert "pip wheel --no-deps" in runs and "pip install -e" not in runs
    runtime = steps[[i for i, (op, _) in enumerate(steps) if op == "FROM"][1]:]
    assert ("COPY", "--from=build /opt/venv /opt/venv") in runtime
    assert not any(op == "COPY" and "src" in args for op, args in runtime), "sources go in the build stage"
    users = [args for op, args in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = " ".join(args for op, args in runtime if op == "ENV")
    assert "PATH=/opt/venv/bin" in env
    # Not forced offline: the h100 presets' base models come from the hub; the compiled pipeline
    # sets HF_HUB_OFFLINE on each task (kubeflow.hf_hub_offline), the Makefile and tests keep 1.
    assert "HF_HUB_OFFLINE" not in env
    # GKE mounts the NVIDIA driver (libcuda) there and does not add it to the loader's path.
    assert re.search(r"LD_LIBRARY_PATH=(\S*:)?/usr/local/nvidia/lib64(:|\s|$)", env), env
    # Only the pins, package metadata and sources go into the build context.
    ignore = (DOCKER / f"{name}.dockerignore").read_text().split()
    kept = ignore[ignore.index("*") + 1:]
    assert kept[:3] == ["!constraints.txt", "!pyproject.toml", "!README.md"] and "!src/" in kept


def _pins(path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return dict(line.split("==", 1) for line in lines if line)


def test_the_cuda_image_pins_its_cuda_wheels_from_pypi_and_checks_the_build():
    """No extra index whose local versions (+cu128, +cpu) could outrank the pin; nvidia-*/triton
    pinned for this image; the build stops unless torch is the CUDA build the pins belong to."""
    text = (DOCKER / "cuda.Dockerfile").read_text()
    runs = " ".join(args for op, args in instructions(DOCKER / "cuda.Dockerfile") if op == "RUN")
    assert "--extra-index-url" not in text and "download.pytorch.org" not in text
    assert runs.count("--index-url https://pypi.org/simple -c constraints.txt -c constraints-cuda.txt") == 2
    assert ("COPY", "docker/constraints-cuda.txt ./") in instructions(DOCKER / "cuda.Dockerfile")
    assert "torch.version.cuda == '${TORCH_CUDA}'" in runs and "ARG TORCH_CUDA=13.0" in text
    cuda = _pins(DOCKER / "constraints-cuda.txt")
    assert cuda["torch"] == _pins(REPO / "constraints.txt")["torch"]
    # torch 2.13.0's Linux Requires-Dist, each pinned exactly.
    for name in ("triton", "cuda-toolkit", "cuda-bindings", "nvidia-cudnn-cu13", "nvidia-cusparselt-cu13",
                 "nvidia-nccl-cu13", "nvidia-nvshmem-cu13", "nvidia-cublas", "nvidia-cuda-runtime"):
        assert re.fullmatch(r"\d+(\.\d+)+(\.\*)?", cuda[name]), name
    assert cuda["cuda-toolkit"].startswith(CUDA_MAJOR_MINOR := "13.0") and CUDA_MAJOR_MINOR in text
    assert "!docker/constraints-cuda.txt" in (DOCKER / "cuda.Dockerfile.dockerignore").read_text().split()


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


def test_secret_names_and_keys_match_the_pipeline():
    """No checkpoint volume any more (train mirrors to object storage); every Secret a task reads is in the example."""
    cfg = KubeflowConfig()
    assert not (INFRA / "kfp/checkpoints-pvc.yaml").exists()
    secrets = {d["metadata"]["name"]: d for d in _docs(INFRA / "kfp/secrets.example.yaml")}
    assert set(secrets) == {cfg.hf_secret, cfg.aws_secret, cfg.mlflow_secret, cfg.openai_secret, cfg.git_secret}
    from spladeforge.pipelines.placement import AWS_KEYS, GIT_KEYS, HF_KEYS, MLFLOW_KEYS, OPENAI_KEY

    expected = ((cfg.hf_secret, HF_KEYS), (cfg.aws_secret, AWS_KEYS), (cfg.mlflow_secret, MLFLOW_KEYS),
                (cfg.openai_secret, {OPENAI_KEY: None}), (cfg.git_secret, GIT_KEYS))
    for name, keys in expected:
        assert set(secrets[name]["stringData"]) == set(keys)
        assert all(v in ("",) or v.startswith("http://mlflow.") for v in secrets[name]["stringData"].values())
    kfp = yaml.safe_load((INFRA / "kfp/kustomization.yaml").read_text())
    assert "secrets.example.yaml" not in kfp["resources"]


def _launcher() -> tuple[dict, dict]:
    (cm,) = _docs(INFRA / "kfp/kfp-launcher.yaml")
    return cm, yaml.safe_load(cm["data"]["providers"])


def test_the_launcher_config_gives_the_s3_pipeline_root_an_endpoint_and_credentials():
    """What KFP 2.17's launcher reads (backend/src/v2/config/s3.go): providers.s3.default with a secretRef."""
    cfg = KubeflowConfig()
    from spladeforge.pipelines.placement import AWS_KEYS

    cm, providers = _launcher()
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "kfp-launcher"
    assert cm["data"]["defaultPipelineRoot"].startswith("s3://")
    default = providers["s3"]["default"]
    assert default["endpoint"] and default["region"]
    credentials = default["credentials"]
    assert credentials["fromEnv"] is False
    assert credentials["secretRef"] == {"secretName": cfg.aws_secret, "accessKeyKey": "access_key_id",
                                        "secretKeyKey": "secret_access_key"}
    assert {credentials["secretRef"]["accessKeyKey"], credentials["secretRef"]["secretKeyKey"]} == set(AWS_KEYS)
    kust = yaml.safe_load((INFRA / "kfp/kustomization.yaml").read_text())
    assert {"path": "kfp-launcher.yaml"} in kust["patches"]  # KFP's base already has a kfp-launcher


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_the_launcher_patch_merges_into_kfps_configmap(tmp_path):
    """Rendered with kustomize over a stand-in for KFP's base (the real one is fetched from GitHub)."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kfp-launcher\n"
                                  "data:\n  defaultPipelineRoot: kfp-default-pipeline-root_PLACEHOLDER\n")
    (base / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    shutil.copy(INFRA / "kfp/kfp-launcher.yaml", overlay)
    kust = yaml.safe_load((INFRA / "kfp/kustomization.yaml").read_text())
    kust["resources"] = ["../base"]
    kust["patches"] = [{"path": "kfp-launcher.yaml"}]  # the controller's patches: test_retry_policy.py
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kust))
    proc = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    (cm,) = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert cm["metadata"]["namespace"] == "kubeflow"
    assert cm["data"] == _launcher()[0]["data"]


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


def test_the_mlflow_image_has_one_name_everywhere():
    """infra/mlflow runs what `make mlflow-image` builds and infra/README.md tells you to build."""
    deploy = next(d for d in _docs(INFRA / "mlflow/mlflow.yaml") if d["kind"] == "Deployment")
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    kust = yaml.safe_load((INFRA / "mlflow/kustomization.yaml").read_text())
    (entry,) = kust["images"]
    assert image == f"{entry['name']}:{entry['newTag']}" == "ghcr.io/spladeforge/spladeforge-mlflow:3.17.2"
    dry = subprocess.run(["make", "-n", "mlflow-image"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert f"-t {image} " in dry.stdout, dry.stdout + dry.stderr
    assert "make mlflow-image" in (INFRA / "README.md").read_text()
    assert "spladeforge-mlflow" in (INFRA / "README.md").read_text()


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_make_images_builds_both_images_tagged_with_the_commit_compile_pins():
    from spladeforge.pipelines.images import IMAGE_SOURCES

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dry = subprocess.run(["make", "-n", "images", "REGISTRY=registry.test/team"], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    builds = re.findall(r"docker build -f (docker/\S+) -t (\S+) \.", dry.stdout)
    assert builds == [("docker/cpu.Dockerfile", f"registry.test/team/spladeforge:{commit}"),
                      ("docker/cuda.Dockerfile", f"registry.test/team/spladeforge-cuda:{commit}")]
    # The default registry is what kubeflow.image / train_image name, so compile pins what was pushed.
    default = subprocess.run(["make", "-n", "images"], cwd=REPO, capture_output=True, text=True, timeout=60).stdout
    cfg = KubeflowConfig()
    assert f"-t {cfg.image}:{commit} " in default and f"-t {cfg.train_image}:{commit} " in default
    # A dirty tree is refused by the same paths `pipeline compile` checks.
    make_sources = re.search(r"^IMAGE_SOURCES := (.+)$", (REPO / "Makefile").read_text(), re.M).group(1).split()
    assert tuple(make_sources) == IMAGE_SOURCES
    assert f"git status --porcelain -- {' '.join(IMAGE_SOURCES)}" in dry.stdout
    for name in ("cpu.Dockerfile", "cuda.Dockerfile"):  # the build context holds only image sources
        kept = [line[1:].rstrip("/") for line in (DOCKER / f"{name}.dockerignore").read_text().split()
                if line.startswith("!")]
        assert all(path.split("/")[0] in IMAGE_SOURCES for path in kept), kept


def test_ci_builds_and_pushes_the_images_for_every_commit_on_main():
    workflow = yaml.safe_load((REPO / ".github/workflows/images.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "packages": "write"}
    (job,) = workflow["jobs"].values()
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "make push-images" in runs  # the same build as on a laptop, tagged with the commit
    uses = [step["uses"] for step in job["steps"] if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w-]+/[\w-]+@v\d+\.\d+\.\d+", u) for u in uses), uses  # pinned versions
    assert "${{ secrets.GITHUB_TOKEN }}" in json.dumps(job)  # the job's own token, no stored registry password


def test_terraform_creates_the_buckets_and_the_hmac_key_the_pipeline_uses():
    tf = (INFRA / "terraform/gke-h100/main.tf").read_text()
    outputs = (INFRA / "terraform/gke-h100/outputs.tf").read_text()
    for api in ("container.googleapis.com", "storage.googleapis.com"):
        assert api in tf  # an empty project has neither
    assert 'resource "google_storage_bucket" "kfp"' in tf and 'resource "google_storage_bucket" "mlflow"' in tf
    assert 'resource "google_storage_hmac_key" "pipelines"' in tf
    assert re.search(r'matches_prefix\s*=\s*\["checkpoints/"\]', tf)
    for name in ("pipeline_root", "checkpoint_uri", "hmac_access_id", "hmac_secret", "mlflow_artifacts_destination"):
        assert f'output "{name}"' in outputs, name
    assert re.search(r'output "hmac_secret" \{[^}]*sensitive\s*=\s*true', outputs)
    _, providers = _launcher()
    assert providers["s3"]["default"]["endpoint"] == "storage.googleapis.com"


def test_a_failed_runs_checkpoint_mirror_is_under_the_prefix_the_lifecycle_rules_expire():
    """A finished train deletes its mirror; a run that failed for good leaves it, and the bucket's
    rule on `checkpoints/` removes it: the terraform rule on GCS, checkpoint-lifecycle.json on S3."""
    from moto import mock_aws

    from spladeforge.training.checkpoint_sync import checkpoint_location

    tf = (INFRA / "terraform/gke-h100/main.tf").read_text()
    kfp_bucket = tf[tf.index('resource "google_storage_bucket" "kfp"'):
                    tf.index('resource "google_storage_bucket" "mlflow"')]
    (prefix,) = re.findall(r'matches_prefix\s*=\s*\["([^"]+)"\]', kfp_bucket)
    outputs = (INFRA / "terraform/gke-h100/outputs.tf").read_text()
    bucket = r'"s3://\$\{google_storage_bucket\.kfp\.name\}'
    assert re.search(r'output "checkpoint_uri".*?' + bucket + '/checkpoints"', outputs, re.S)
    assert re.search(r'output "pipeline_root".*?' + bucket + '/pipeline-root"', outputs, re.S)
    model_uri = "s3://team-kfp/pipeline-root/spladeforge-training/run-7/train/42/model"
    for checkpoint_uri in ("", "s3://team-kfp/checkpoints"):  # kubeflow.checkpoint_uri null, or terraform's
        _, mirror = checkpoint_location(checkpoint_uri, "run-7", model_uri)
        assert mirror == "s3://team-kfp/checkpoints/run-7/train"
        assert mirror.removeprefix("s3://team-kfp/").startswith(prefix)
    rules = json.loads((INFRA / "kfp/checkpoint-lifecycle.json").read_text())
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="team-kfp")
        s3.put_bucket_lifecycle_configuration(Bucket="team-kfp", LifecycleConfiguration=rules)
        (rule,) = s3.get_bucket_lifecycle_configuration(Bucket="team-kfp")["Rules"]
    assert rule["Status"] == "Enabled" and rule["Filter"]["Prefix"] == prefix and rule["Expiration"]["Days"] >= 1
