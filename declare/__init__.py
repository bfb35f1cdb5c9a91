"""Declaring: YAML layers, their schema, the host model, secrets and the rendered stack.

Everything here reads files on the controller only; the check layer, the deploy files and the
command line build on it, and nothing here imports from them.
"""
