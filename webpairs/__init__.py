"""webpairs: curate web-scale image-text pairs with Beam, pretrain SigLIP-family models with JAX."""

__version__ = "0.1.0"
