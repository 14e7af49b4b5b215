"""Fraud proofs: trace commitments, one-step op checks and the calldata of the dispute game (docs/fraud-proofs.md)."""
