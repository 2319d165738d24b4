"""The schema as the SDK sees it, whatever the flavour: table definitions (tables.py), typed filters,
ordering and keyset cursors over them (query.py), and checked calls of the app's functions (rpc.py).
Pure: no I/O."""
