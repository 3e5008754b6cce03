"""culturelens.eval"""
