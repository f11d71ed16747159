"""Shared fixtures. People-named fixtures (owner, billing_manager, member, outsider)
live here so every test module speaks the same language.
"""
