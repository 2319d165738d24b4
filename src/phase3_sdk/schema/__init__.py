"""The schema as the SDK sees it, whatever the flavour: table definitions (tables.py) and typed filters,
ordering and keyset cursors over them (query.py). Pure: no I/O."""
