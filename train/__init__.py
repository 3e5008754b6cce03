"""culturelens.train"""
