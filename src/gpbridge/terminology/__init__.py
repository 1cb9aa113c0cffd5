"""terminology"""
