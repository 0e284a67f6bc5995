"""The lucia stack: network, Redis and the service, hardened, one stack per environment."""
