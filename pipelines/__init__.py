"""Kubeflow pipelines built from the stage components."""

from spladeforge.pipelines.training import PIPELINE_NAME, compile_pipeline, make_pipeline, run_arguments

__all__ = ["PIPELINE_NAME", "compile_pipeline", "make_pipeline", "run_arguments"]
