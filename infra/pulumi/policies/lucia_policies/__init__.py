"""Hardening rules for lucia's containers (CIS Docker Benchmark v1.6.0)."""
