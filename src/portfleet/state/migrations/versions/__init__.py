"""The revisions, oldest first: 0001 (the v1 tables as state.py created them), 0002 (host leases),
0003 (runs' job and shard)."""
