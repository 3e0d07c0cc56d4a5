"""Cross-cutting pieces shared by every layer: clock, logging, settings error messages,
listener sets and the launchers for local services (broker, database) that tests, the rig
and the demo start. This package imports nothing from the project above it; the umbrella
`smartroom` CLI and the demo live in `smartroom_cli`."""
