"""Cross-cutting pieces shared by the agent and the central service: clock, logging,
settings error messages, and the umbrella `smartroom` CLI (demo, rig, schemas, benchmarks)."""
