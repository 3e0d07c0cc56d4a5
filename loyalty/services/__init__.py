"""Use cases on top of the ledger and the tables: each function takes a Context and an open
Connection (the caller owns the transaction), raises ApiError for refusals, and has no HTTP
in it, so the API, the CLI and the jobs share them."""
