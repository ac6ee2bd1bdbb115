"""training: the Python sibling of the gateway. Generates the procedural shapes data,
trains/distills the classifier and MiniCLIP, and exports ONNX models plus manifests into
the gateway's model repository (docs/model-repository.md). Run: python3 -m training <cmd>."""
__version__ = "0.1.0"
