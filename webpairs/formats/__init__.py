"""On-disk contracts shared by curation, training and eval (image formats and the one decode to model pixels so far)."""
