"""Stage 6, training (rule ``train_model``): the loop, its optimiser steps and losses, the
paper's schedules, checkpoints (and the import of the released ones: rule
``import_released``, ``weaklesion import-checkpoint``), devices and precision, and the GPU
fast paths."""
