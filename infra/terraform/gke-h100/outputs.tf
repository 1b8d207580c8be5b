output "cluster_name" {
  value = google_container_cluster.this.name
}

output "cluster_endpoint" {
  value     = google_container_cluster.this.endpoint
  sensitive = true
}

output "gpu_node_selector" {
  description = "What to put in params.yaml kubeflow.node_selector_key/value."
  value = {
    "cloud.google.com/gke-accelerator" = "nvidia-h100-80gb"
  }
}

output "get_credentials" {
  value = "gcloud container clusters get-credentials ${google_container_cluster.this.name} --region ${var.region} --project ${var.project_id}"
}

output "pipeline_root" {
  description = "defaultPipelineRoot of infra/kfp/kfp-launcher.yaml (and --pipeline-root)."
  value       = "s3://${google_storage_bucket.kfp.name}/pipeline-root"
}

output "checkpoint_uri" {
  description = "kubeflow.checkpoint_uri: where train mirrors its checkpoints (expired after checkpoint_retention_days)."
  value       = "s3://${google_storage_bucket.kfp.name}/checkpoints"
}

output "mlflow_artifacts_destination" {
  description = "ARTIFACTS_DESTINATION of infra/mlflow/kustomization.yaml."
  value       = "s3://${google_storage_bucket.mlflow.name}/artifacts"
}

output "hmac_access_id" {
  description = "access_key_id of the Secrets spladeforge-aws (kubeflow) and mlflow-s3 (mlflow)."
  value       = google_storage_hmac_key.pipelines.access_id
}

output "hmac_secret" {
  description = "secret_access_key of the same Secrets: terraform output -raw hmac_secret."
  value       = google_storage_hmac_key.pipelines.secret
  sensitive   = true
}

output "region" {
  description = "providers.s3.default.region of infra/kfp/kfp-launcher.yaml: the buckets' location."
  value       = var.region
}
