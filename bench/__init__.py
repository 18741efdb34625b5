"""Benchmarks and the fault soak: the service under uvicorn against the loopback fake upstream."""
