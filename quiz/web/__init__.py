"""The web layer: thin views over the domain core."""
