"""Data sets: toy 2-D mixtures here; image sets live in their own modules."""
