"""Design changes measured, not made: each module patches a running sitelink in memory so
that a benchmark can measure the proposal beside the real thing, in the same run."""
