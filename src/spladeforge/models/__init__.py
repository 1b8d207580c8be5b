"""Models: built-in references, builders for the three architectures, the fused SPLADE head, ONNX/INT8 export."""
