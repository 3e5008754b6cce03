"""The core: configs, errors, countries, question bank, human reference, models, prompts, teachers, run folders. Imports no stage."""
