"""Data sets: toy 2-D mixtures (toy.py) and image sets (images.py; ``python -m ebmlab.data`` fetches them)."""
