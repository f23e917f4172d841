"""The `certmint` command."""
