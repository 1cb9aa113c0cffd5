"""api/operations"""
