"""Proctor: run LLM tool-using agents under explicit control."""
