"""The umbrella `smartroom` command and the demo.

This package sits above everything else: it mounts the rig (firmware_mocks), the wire-schema
export (sync), the benchmarks (bench) and runs central + agents in the demo. The cross-cutting
`smartroom` package below it (clock, logging, settings, listeners, service launchers) imports
none of these, so any layer may depend on it.
"""
