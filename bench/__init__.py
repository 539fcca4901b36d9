"""Benchmarks: each compares two things in one run and prints ratios (these machines are noisy)."""
