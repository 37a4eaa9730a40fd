"""pfcn package."""
