"""Tests of the cluster (issue 14)."""
