"""imitation"""
