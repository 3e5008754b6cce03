"""Experiments: orchestration over the stages (the synth -> train -> eval pipeline, the paper's claims)."""
