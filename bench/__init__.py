"""Assay's benchmarks: `python -m bench.run` (`make bench`) measures the protocol against its goals
and against plain onnxruntime on the bench's own anvil, and writes bench/results/summary.json and
bench/results/REPORT.md (with plots). See docs/benchmarks.md."""
