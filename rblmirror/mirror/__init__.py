"""Mirroring the lists: transports (rsync, HTTP, files), per-source state and
snapshots (state), the fetch rules and scheduler (fetch), the zones served from fetched
snapshots (zones), which zones a config answers (zoneset), status and metrics, and
`sources add` (configedit). Imports data and dns."""
