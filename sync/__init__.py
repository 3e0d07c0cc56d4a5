"""Offline-first replication between room agents and the central service.

`sync.wire` is the contract: pydantic models for everything that crosses a process
boundary, imported by both sides. The agent-side outbox/inbox/worker live beside it."""
