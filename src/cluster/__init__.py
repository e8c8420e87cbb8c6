"""Several instances on one PostgreSQL (API.md, "Cluster and workers")."""
