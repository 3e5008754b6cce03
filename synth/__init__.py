"""culturelens.synth"""
