"""The SLA math stage: slices, windows, error budgets, burn rates, alerts and credits."""
