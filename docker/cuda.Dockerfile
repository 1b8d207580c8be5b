# syntax=docker/dockerfile:1.7
# spladeforge CUDA image: train and the GPU tasks on the H100 pool. torch 2.13.0's Linux wheel on PyPI
# is the CUDA 13.0 build; its CUDA libraries come as nvidia-*/cuda-toolkit wheels pinned in
# docker/constraints-cuda.txt, and the node provides only the driver (>= 580 for CUDA 13; GKE's
# `gpu_driver_version = "LATEST"` installs one, and its device plugin mounts it).
# Built by `make images` from the repository root, tagged with the git commit that
# `spladeforge pipeline compile` pins:  docker build -f docker/cuda.Dockerfile -t spladeforge-cuda:$(git rev-parse HEAD) .
# Same constraints.txt as `make install` plus constraints-cuda.txt; the package is installed as a
# wheel, not in editable mode. Only PyPI is asked (no extra index whose local versions could outrank
# the pin), and the build fails unless the installed torch is the CUDA build it expects.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_CUDA=13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first, in their own layer: it is rebuilt only when the pins change.
COPY constraints.txt pyproject.toml README.md ./
COPY docker/constraints-cuda.txt ./
RUN pip install pip==26.3 \
 && pip install --index-url https://pypi.org/simple -c constraints.txt -c constraints-cuda.txt torch \
 && python -c "import torch, sys; sys.exit(0 if torch.version.cuda == '${TORCH_CUDA}' else \
f'torch {torch.__version__} was built for CUDA {torch.version.cuda}, not ${TORCH_CUDA}')" \
 && python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(d['dependencies'] + d['optional-dependencies']['kfp']))" > requirements.txt \
 && pip install --index-url https://pypi.org/simple -c constraints.txt -c constraints-cuda.txt -r requirements.txt
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip install --no-deps /wheels/spladeforge-*.whl \
 && pip check

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="spladeforge-cuda" \
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
