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
