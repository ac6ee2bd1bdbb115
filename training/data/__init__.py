"""Data: the procedural shapes dataset (generator + splits + held-out combinations) and
real loaders (any torchvision ImageFolder tree, image-caption JSONL)."""
