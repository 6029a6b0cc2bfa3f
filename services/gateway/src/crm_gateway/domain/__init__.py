"""The gateway's rules: who the caller is and where a public path is served."""
