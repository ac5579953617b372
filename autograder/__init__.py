"""Maths for Deep Learning autograder."""
