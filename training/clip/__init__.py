# MiniCLIP: CLIP BPE tokenizer, a small CLIP (image tower + causal text transformer),
# teacher training, embedding distillation into a MobileNetV3-small image encoder, and
# export into the gateway's model repository (kind "clip").
