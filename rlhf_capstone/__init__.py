"""RLHF capstone."""
