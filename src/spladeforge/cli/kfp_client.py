"""A `kfp.Client` with credentials, for a single-user KFP or a multi-user Kubeflow behind Istio/oauth2-proxy.

Credentials, strongest first (kfp.Client takes one bearer token and any cookies):
- `--token` / KF_PIPELINES_TOKEN: a bearer token made outside (e.g. `kubectl create token`, an
  OIDC id token, `gcloud auth print-identity-token` for IAP);
- `--sa-token-path` / KF_PIPELINES_SA_TOKEN_PATH: a projected service-account token file, re-read
  on every request (the kubelet rotates it); used by default when the file KFP documents for pods,
  /var/run/secrets/kubeflow/pipelines/token, exists;
- `--cookie` / KF_PIPELINES_COOKIE: a session cookie from the browser (oauth2-proxy, Dex:
  `authservice_session=...` or `oauth2_proxy_kubeflow=...`), sent with the token if both are given.

None of them is printed, logged or written anywhere. A multi-user Kubeflow has no `kubeflow`
profile for runs: the namespace must be named, and is refused up front when it is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from spladeforge.errors import ConfigError, SpladeforgeError

# kfp.client.KF_PIPELINES_SA_TOKEN_PATH: where Kubeflow's PodDefault projects the token in a pod.
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubeflow/pipelines/token")

HostOpt = Annotated[str, typer.Option(envvar="KFP_HOST", help="KFP API endpoint, e.g. http://ml-pipeline-ui:80.")]
NamespaceOpt = Annotated[str | None, typer.Option(
    envvar="KFP_NAMESPACE", help="Namespace (Kubeflow profile) of the runs; required on a multi-user Kubeflow.")]
TokenOpt = Annotated[str | None, typer.Option(
    envvar="KF_PIPELINES_TOKEN", show_default=False, help="Bearer token for the KFP API.")]
SaTokenOpt = Annotated[Path | None, typer.Option(
    envvar="KF_PIPELINES_SA_TOKEN_PATH", help=f"Service-account token file (default: {IN_CLUSTER_TOKEN} if present).")]
CookieOpt = Annotated[str | None, typer.Option(
    envvar="KF_PIPELINES_COOKIE", show_default=False, help="Session cookie, e.g. 'authservice_session=...'.")]


def connect(host: str, namespace: str | None, token: str | None = None, sa_token_path: Path | None = None,
            cookie: str | None = None):
    """A kfp.Client for `host` with the first credential given; refuse a multi-user server without a namespace."""
    import kfp
    from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

    credentials = None
    if not token:
        path = sa_token_path or (IN_CLUSTER_TOKEN if IN_CLUSTER_TOKEN.is_file() else None)
        if path is not None:
            if not Path(path).is_file():
                raise ConfigError(f"--sa-token-path {path}: file not found")
            credentials = ServiceAccountTokenVolumeCredentials(str(path))
    with api_errors(host):
        client = kfp.Client(host=host, namespace=namespace, existing_token=token or None, cookies=cookie or None,
                            credentials=credentials)
        if not namespace and client.get_kfp_healthz(sleep_duration=1).multi_user:
            raise ConfigError(f"{host} is a multi-user Kubeflow: pass --namespace (or KFP_NAMESPACE) with your "
                              "profile's namespace; runs cannot go to `kubeflow` there")
    return client


@contextmanager
def api_errors(host: str) -> Iterator[None]:
    """Turn the API's refusals into errors that say what to do (never echoing a credential)."""
    from kfp_server_api.exceptions import ApiException

    try:
        yield
    except ApiException as exc:
        if exc.status in (401, 403):
            raise SpladeforgeError(
                f"{host} refused the request ({exc.status} {exc.reason}): pass a valid --token "
                "(KF_PIPELINES_TOKEN), --cookie (KF_PIPELINES_COOKIE) or --sa-token-path, and the namespace "
                "your credentials may use") from None
        raise SpladeforgeError(f"{host}: the KFP API answered {exc.status} {exc.reason}: "
                               f"{(exc.body or '')[:300]}") from None

