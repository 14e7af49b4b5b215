"""Assay: verifiable ONNX inference on Ethereum (off-chain half).

Sub-modules: ``errors`` (one exception base), ``params`` (governance parameters, validated),
``artifacts`` (contract ABIs from ape's build), ``deployer`` (deploys and wires the contracts).
"""

__version__ = "0.1.0"
