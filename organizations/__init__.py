"""Tenants: organizations, memberships, invitations and removal tombstones.

Every way into or out of an organization goes through ``organizations.services``.
"""
