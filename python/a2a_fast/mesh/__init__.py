"""The agent mesh: who is alive and what it offers, and collaboration workflows across those agents."""
