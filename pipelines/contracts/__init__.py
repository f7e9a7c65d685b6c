"""The contract model: schema, YAML loading with file:line errors, sources."""
