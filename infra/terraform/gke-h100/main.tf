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

resource "google_container_cluster" "this" {
  name     = var.cluster_name
  location = var.region

  # Node pools are managed below; the default pool is removed right after creation.
  remove_default_node_pool = true
  initial_node_count       = 1
  deletion_protection      = true

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
