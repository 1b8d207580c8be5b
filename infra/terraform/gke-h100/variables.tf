variable "project_id" {
  description = "GCP project."
  type        = string
}

variable "region" {
  description = "Region of the cluster; pick one with H100 capacity (e.g. us-central1)."
  type        = string
  default     = "us-central1"
}

variable "gpu_zones" {
  description = "Zones of the H100 pool (a3 machines exist only in some zones)."
  type        = list(string)
  default     = ["us-central1-a", "us-central1-c"]
}

variable "cluster_name" {
  type    = string
  default = "spladeforge"
}

variable "gpu_machine_type" {
  description = "a3-highgpu-1g = 1 x H100 80GB; -2g/-4g/-8g for more (match kubeflow.accelerator_count)."
  type        = string
  default     = "a3-highgpu-1g"
}

variable "gpu_count" {
  description = "H100s per node; must match the machine type."
  type        = number
  default     = 1
}

variable "gpu_max_nodes" {
  description = "Autoscaling ceiling per zone of the H100 pool (the floor is 0)."
  type        = number
  default     = 2
}

variable "gpu_spot" {
  description = "Spot H100s: far cheaper, preemptible; the train task retries and resumes from the checkpoints it mirrors to the bucket."
  type        = bool
  default     = true
}

variable "cpu_machine_type" {
  type    = string
  default = "e2-standard-8"
}

variable "cpu_max_nodes" {
  type    = number
  default = 4
}

variable "bucket_prefix" {
  description = "Globally unique prefix of the two buckets (<prefix>-kfp, <prefix>-mlflow), e.g. the project id."
  type        = string
}

variable "checkpoint_retention_days" {
  description = "Age after which checkpoints left under checkpoints/ by runs that failed for good are deleted."
  type        = number
  default     = 14
}
