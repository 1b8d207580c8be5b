# A GKE cluster for spladeforge: a CPU pool for Kubeflow Pipelines, MLflow and the CPU stages,
# and an autoscaling H100 pool that scales to zero when no train task is waiting.
#
# The H100 pool carries the label and taint the pipeline's train task selects and tolerates
# (params.yaml kubeflow.*): GKE labels accelerator nodes cloud.google.com/gke-accelerator=<type>
# and the taint nvidia.com/gpu=present:NoSchedule keeps every other pod off them.

provider "google" {
  project = var.project_id
  region  = var.region
}

# An empty project has neither API switched on.
resource "google_project_service" "apis" {
  for_each           = toset(["container.googleapis.com", "storage.googleapis.com", "iam.googleapis.com"])
  service            = each.value
  disable_on_destroy = false
}

resource "google_container_cluster" "this" {
  name     = var.cluster_name
  location = var.region

  # Node pools are managed below; the default pool is removed right after creation.
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = true
  depends_on               = [google_project_service.apis]

  release_channel {
    channel = "REGULAR"
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  addons_config {
    gcp_filestore_csi_driver_config {
      enabled = false
    }
    gce_persistent_disk_csi_driver_config {
      enabled = true
    }
  }
}

resource "google_container_node_pool" "cpu" {
  name     = "cpu"
  cluster  = google_container_cluster.this.id
  location = var.region

  autoscaling {
    min_node_count = 1
    max_node_count = var.cpu_max_nodes
  }

  node_config {
    machine_type = var.cpu_machine_type
    disk_size_gb = 200
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

resource "google_container_node_pool" "h100" {
  name           = "h100"
  cluster        = google_container_cluster.this.id
  location       = var.region
  node_locations = var.gpu_zones

  # Scale to zero: the cluster autoscaler adds a node when a train pod is pending and removes
  # it after the pod is gone.
  initial_node_count = 0
  autoscaling {
    total_min_node_count = 0
    total_max_node_count = var.gpu_max_nodes * length(var.gpu_zones)
    location_policy      = "ANY"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type = var.gpu_machine_type
    spot         = var.gpu_spot
    disk_type    = "pd-ssd"
    disk_size_gb = 200
    oauth_scopes = ["https://www.googleapis.com/auth/cloud-platform"]

    guest_accelerator {
      type  = "nvidia-h100-80gb"
      count = var.gpu_count
      gpu_driver_installation_config {
        gpu_driver_version = "LATEST"
      }
    }

    # Local NVMe as ephemeral storage: the datasets and HF cache of a train pod.
    ephemeral_storage_local_ssd_config {
      local_ssd_count = var.gpu_count * 2
    }

    labels = {
      "spladeforge.io/pool" = "h100"
    }

    taint {
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
  }
}

# Object storage, used through GCS's S3-compatible XML API (the pipeline speaks S3: the KFP launcher's
# s3:// pipeline root, boto3, DVC): the pipeline root and train's checkpoints, and MLflow's artifacts.
resource "google_storage_bucket" "kfp" {
  name                        = "${var.bucket_prefix}-kfp"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  depends_on                  = [google_project_service.apis]

  # train's checkpoint mirror (kubeflow.checkpoint_uri = output checkpoint_uri): a finished run
  # deletes its own; those of a run that failed for good are never read again.
  lifecycle_rule {
    condition {
      age            = var.checkpoint_retention_days
      matches_prefix = ["checkpoints/"]
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket" "mlflow" {
  name                        = "${var.bucket_prefix}-mlflow"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  depends_on                  = [google_project_service.apis]
}

# The identity behind the HMAC key the pipeline's tasks and MLflow use (Secrets spladeforge-aws
# and mlflow-s3): object access to the two buckets and nothing else.
resource "google_service_account" "pipelines" {
  account_id   = "${var.cluster_name}-pipelines"
  display_name = "spladeforge pipelines: object storage through the S3 XML API"
  depends_on   = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "pipelines" {
  for_each = {
    kfp    = google_storage_bucket.kfp.name
    mlflow = google_storage_bucket.mlflow.name
  }
  bucket = each.value
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.pipelines.email}"
}

resource "google_storage_hmac_key" "pipelines" {
  service_account_email = google_service_account.pipelines.email
}
