"""Connections to applicant tracking systems and what they tell us."""
