"""Payload cases: read and write them, compare answers, replay them over HTTP."""
