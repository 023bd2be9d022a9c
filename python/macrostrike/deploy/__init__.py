"""Deployment: diamond cuts, real venues from npm artifacts, the system deploy and its manifest."""
