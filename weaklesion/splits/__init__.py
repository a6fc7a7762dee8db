"""Stage 5, the splits: train / val / test of every lesion under each protocol (rule
``split_dataset``), and a split's patches, targets and cluster labels loaded into memory for
training and evaluation."""
