"""What resources share whatever their flavour: table definitions, typed filters, cursors."""
