"""navigation"""
