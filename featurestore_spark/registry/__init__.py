"""The feature registry: tags and keywords on what the store keeps, and search over it."""
