# MLflow server for infra/mlflow: the official image (same MLflow as constraints.txt) plus the
# PostgreSQL driver and boto3 for the S3 artifact store, installed at build time, not at start.
# Built by `make mlflow-image` as $(REGISTRY)/spladeforge-mlflow:3.17.2, the name infra/mlflow runs.
FROM ghcr.io/mlflow/mlflow:v3.17.2
RUN pip install --no-cache-dir psycopg2-binary==2.9.10 boto3==1.43.117 \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin mlflow
USER 10001
