"""What analytics counts and how."""
