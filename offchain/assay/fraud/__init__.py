"""Fraud proofs, off-chain: traces of canonical runs (``trace``), their commitments (``tracecommit``),
one-step op checks mirroring the on-chain verifiers (``ops``), the challenger's search
(``prover``), calldata of every game entry point (``calldata``) and the game client (``game``).
See docs/fraud-proofs.md and docs/fraud-bounds.md."""
