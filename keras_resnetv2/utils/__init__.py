"""Utilities every layer shares: argument checks, atomic files, figure saving."""
