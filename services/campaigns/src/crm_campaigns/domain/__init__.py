"""Templates, sequences, messages and the rules that govern them."""
