"""SILC / SigLIP 2 self-distillation: multi-crop views, EMA teacher, DINO head and loss, masked prediction."""
