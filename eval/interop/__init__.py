"""lm-evaluation-harness interop: the probe as a harness task (``lm_eval_task``, `culturelens export lm-eval`) and
the harness's samples back into a culturelens run folder (``lm_eval_import``, `culturelens import lm-eval`)."""
from culturelens.eval.interop.lm_eval_import import import_lm_eval
from culturelens.eval.interop.lm_eval_task import export_lm_eval, export_task

__all__ = ["export_lm_eval", "export_task", "import_lm_eval"]
