"""Core: errors, hashing, the budget clock and configuration types. Pure, no I/O."""
