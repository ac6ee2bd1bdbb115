"""Classifier models: the MobileNetV3-small student (torchvision's definition, optional
dynamic convolution), the ResNet-style teacher, one factory, and a FLOP counter."""
from training.models.factory import ModelConfig, create_model, count_macs, count_params  # noqa: F401
