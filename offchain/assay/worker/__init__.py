"""The worker daemon: config (``config``), journal (``journal``), loop (``loop``), metrics (``metrics``)
and the entry point that wires them (``run``)."""
