"""Ingest stage: landing files → typed raw tables, rejects and the file ledger."""
