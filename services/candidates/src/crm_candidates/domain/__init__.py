"""The candidate record and the rules that keep it clean."""
