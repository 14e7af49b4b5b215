"""The challenger daemon: re-checks posted results, challenges wrong ones, proves the fraud on-chain."""
