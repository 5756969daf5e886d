"""Benchmarks (`make bench`): they print tables; nothing here is a pass/fail test."""
