"""The local endpoint: production's HTTP contract and the server that follows it."""
