"""Helpers the test layers share: a real redis-server process, free ports."""
