# syntax=docker/dockerfile:1.7
# spladeforge CPU image: every task but train (and train on CPU).
# Built by `make images` from the repository root, tagged with the git commit that
# `spladeforge pipeline compile` pins:  docker build -f docker/cpu.Dockerfile -t spladeforge:$(git rev-parse HEAD) .
# Same constraints.txt as `make install`; the package is installed as a wheel, not in editable mode.
# torch comes from the PyTorch index (the +cpu/+cu128 local version of the pinned 2.13.0 ranks first).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first, in their own layer: it is rebuilt only when the pins change.
COPY constraints.txt pyproject.toml README.md ./
RUN pip install pip==26.3 \
 && pip install -c constraints.txt --extra-index-url ${TORCH_INDEX_URL} torch \
 && python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(d['dependencies'] + d['optional-dependencies']['kfp']))" > requirements.txt \
 && pip install -c constraints.txt -r requirements.txt
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip install --no-deps /wheels/spladeforge-*.whl \
 && pip check

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="spladeforge" \
      org.opencontainers.image.source="https://github.com/spladeforge/spladeforge"
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# python3 on PATH is the venv's: KFP runs `python3 -m kfp.dsl.executor_main` and must not pip-install.
# No HF_HUB_OFFLINE here: the compiled pipeline sets it on every task (kubeflow.hf_hub_offline), since
# the h100 presets' base models come from the hub. GKE's device plugin mounts the NVIDIA driver
# libraries (libcuda) under /usr/local/nvidia and does not put them on the loader's path; the torch
# wheel bundles the rest of CUDA. On a node without a GPU the folder is simply absent.
ENV PATH=/opt/venv/bin:/usr/local/nvidia/bin:$PATH \
    LD_LIBRARY_PATH=/usr/local/nvidia/lib64 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/home/app/.cache/huggingface \
    TOKENIZERS_PARALLELISM=false \
    MLFLOW_DISABLE_TELEMETRY=true
USER 10001:10001
WORKDIR /home/app
RUN spladeforge --help > /dev/null
ENTRYPOINT ["spladeforge"]
CMD ["--help"]
