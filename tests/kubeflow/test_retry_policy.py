"""Which failures of train and the GPU tasks Argo retries, from the compiled IR and infra/kfp.

KFP 2.17's IR carries a task's retry limit and backoff but no retry policy; its Argo compiler
turns them into a template `retryStrategy` of limit and backoff only, and Argo fills the rest from
the controller's `workflowDefaults.spec.templateDefaults`, merged into every template with a
Kubernetes strategic merge patch in which the template's own values win (Argo's "Template Defaults"
documentation). The policy is then decided per failed attempt as Argo's `processNodeRetries` does
(workflow/controller/operator.go): OnTransientError retries a Failed or Error node whose message
matches TRANSIENT_ERROR_PATTERN. These tests replay that on what this repository compiles and ships.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from .conftest import REPO
from .test_compile import compile_ir
from .test_placement import _control_flow_tasks

INFRA = REPO / "infra"
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

# Node messages Argo records for a failed attempt (the pod's status message when it has one).
SHUTDOWN = ("Failed", "Pod was terminated in response to imminent node shutdown.")
VANISHED = ("Error", "pod deleted")
EXCEPTION = ("Failed", "Error (exit code 1)")
OOM = ("Failed", "OOMKilled (exit code 137)")

# What KFP's manifests configure, as the stand-in base the overlay is rendered over.
KFP_WORKFLOW_DEFAULTS = ("spec:\n  templateDefaults:\n    retryStrategy:\n"
                         "      limit: \"2\"\n      retryPolicy: OnError\n")
KFP_PATTERN = "(?i)(imminent node shutdown|preempt|pod deleted)"


def strategic_merge(defaults, template):
    """Maps merged key by key, the template's value winning; anything else is the template's."""
    if isinstance(defaults, dict) and isinstance(template, dict):
        return {key: strategic_merge(defaults[key], template[key]) if key in defaults and key in template
                else template.get(key, defaults.get(key)) for key in {**defaults, **template}}
    return template


def retried(strategy: dict, phase: str, message: str, pattern: str) -> bool:
    """Argo's decision for one failed attempt (processNodeRetries' switch on the policy)."""
    policy = strategy.get("retryPolicy") or "OnFailure"
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return phase == "Failed"
    if policy == "OnError":
        return phase == "Error"
    if policy == "OnTransientError":
        return phase in ("Failed", "Error") and re.search(pattern, message) is not None
    raise AssertionError(f"{policy} is not an Argo retry policy")


def kfp_retry_strategy(retry_policy: dict) -> dict:
    """The retryStrategy KFP 2.17's compiler writes for a task's IR retryPolicy (container.go):
    limit and backoff as strings, durations in seconds, the factor as Go prints a float64."""
    seconds = {key: str(int(retry_policy[key].rstrip("s"))) for key in ("backoffDuration", "backoffMaxDuration")}
    return {"limit": str(retry_policy["maxRetryCount"]),
            "backoff": {"duration": seconds["backoffDuration"],
                        "factor": format(float(retry_policy["backoffFactor"]), "g"),
                        "maxDuration": seconds["backoffMaxDuration"]}}


@pytest.fixture(scope="module")
def controller(tmp_path_factory) -> tuple[dict, str]:
    """(templateDefaults, TRANSIENT_ERROR_PATTERN) after infra/kfp's patches over a stand-in of KFP's base."""
    tmp = tmp_path_factory.mktemp("kfp")
    base, overlay = tmp / "base", tmp / "overlay"
    base.mkdir()
    overlay.mkdir()
    (base / "resources.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kfp-launcher"},
         "data": {"defaultPipelineRoot": "minio://mlpipeline/v2/artifacts"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "workflow-controller-configmap"},
         "data": {"workflowDefaults": KFP_WORKFLOW_DEFAULTS, "executor": "imagePullPolicy: IfNotPresent\n"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "workflow-controller"},
         "spec": {"selector": {"matchLabels": {"app": "workflow-controller"}}, "template": {
             "metadata": {"labels": {"app": "workflow-controller"}},
             "spec": {"containers": [{"name": "workflow-controller", "image": "quay.io/argoproj/workflow-controller",
                                      "env": [{"name": "TRANSIENT_ERROR_PATTERN", "value": KFP_PATTERN},
                                              {"name": "DEFAULT_REQUEUE_TIME", "value": "6s"}]}]}}}},
    ]))
    (base / "kustomization.yaml").write_text("resources: [resources.yaml]\n")
    kust = yaml.safe_load((INFRA / "kfp/kustomization.yaml").read_text())
    kust["resources"] = ["../base"]
    for patch in kust["patches"]:
        shutil.copy(INFRA / "kfp" / patch["path"], overlay)
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kust))
    proc = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(proc.stdout) if d}
    cm = docs["workflow-controller-configmap"]["data"]
    assert cm["executor"] == "imagePullPolicy: IfNotPresent\n"  # KFP's other settings stay
    (container,) = docs["workflow-controller"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DEFAULT_REQUEUE_TIME"] == "6s"
    return yaml.safe_load(cm["workflowDefaults"])["spec"]["templateDefaults"], env["TRANSIENT_ERROR_PATTERN"]


@pytest.fixture(scope="module")
def gpu_strategies(tmp_path_factory) -> dict[str, dict]:
    _, ir, _ = compile_ir(tmp_path_factory.mktemp("ir"), ["preset=h100-splade"])
    tasks = _control_flow_tasks(ir)
    return {name: kfp_retry_strategy(tasks[name]["retryPolicy"]) for name in ("train", "encode-shard", "evaluate")}


def test_preemption_and_a_vanished_pod_are_retried_an_exception_or_oom_is_not(controller, gpu_strategies):
    defaults, pattern = controller
    for name, own in gpu_strategies.items():
        effective = strategic_merge(defaults["retryStrategy"], own)
        assert effective["retryPolicy"] == "OnTransientError", name
        assert effective["limit"] == "3", name  # the task's own limit wins over the default's 2
        assert int(effective["backoff"]["factor"]) == 2, name  # Argo parses it as an integer
        assert effective["backoff"]["maxDuration"] == str(72 * 3600), name
        assert retried(effective, *SHUTDOWN, pattern) and retried(effective, *VANISHED, pattern), name
        assert not retried(effective, *EXCEPTION, pattern) and not retried(effective, *OOM, pattern), name


def test_kfps_own_default_would_not_retry_a_preempted_pod(gpu_strategies):
    """Why infra/kfp replaces it: under OnError a graceful node shutdown (Failed) ends the run."""
    kfp_defaults = yaml.safe_load(KFP_WORKFLOW_DEFAULTS)["spec"]["templateDefaults"]
    effective = strategic_merge(kfp_defaults["retryStrategy"], gpu_strategies["train"])
    assert effective["retryPolicy"] == "OnError"
    assert not retried(effective, *SHUTDOWN, KFP_PATTERN) and retried(effective, *VANISHED, KFP_PATTERN)


def test_a_template_without_retries_gets_a_bounded_transient_retry(controller):
    """CPU tasks and KFP's DAG templates set no retryStrategy: they take the default's limit,
    so a transient error is retried twice, never without end (Argo's missing limit)."""
    defaults, pattern = controller
    effective = strategic_merge(defaults["retryStrategy"], {})
    assert effective == {"limit": "2", "retryPolicy": "OnTransientError"}
    assert retried(effective, *SHUTDOWN, pattern) and not retried(effective, *EXCEPTION, pattern)


def test_a_fractional_factor_never_reaches_argo():
    """Argo reads backoff.factor as an integer; a 1.5 is refused when params load, naming the key."""
    from spladeforge.config import load_params
    from spladeforge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"kubeflow\.retry_backoff_factor"):
        load_params(REPO / "params.yaml", ["kubeflow.retry_backoff_factor=1.5"])
    params = load_params(REPO / "params.yaml", ["kubeflow.retry_backoff_factor=3"])
    assert params.kubeflow.retry_backoff_factor == 3
