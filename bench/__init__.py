"""Benchmarks, run on demand (`smartroom bench NAME`); results go to docs/benchmarks.md."""
