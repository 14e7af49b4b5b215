"""Fraud proofs: the one-step op checks (``ops``) and the pieces of the dispute game that use them.

See docs/fraud-proofs.md for the design and docs/fraud-bounds.md for each op's bound.
"""
