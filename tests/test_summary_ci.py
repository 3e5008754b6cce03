"""One CI type in summary.json: written as {"lo", "hi"}; older summaries' CI shapes still read; unknown keys refused."""
import json

import pytest

from culturelens.core.ci import CI
from culturelens.core.errors import DataError
from culturelens.core.runfolder import RunFolder, Summary


def test_ci_json_is_lean_and_a_pair_reads():
    assert CI(lo=0.1, hi=0.3).model_dump() == {"lo": 0.1, "hi": 0.3}
    assert CI(lo=0.1, hi=0.3, method="Welch's t").model_dump() == {"lo": 0.1, "hi": 0.3, "method": "Welch's t"}
    assert CI.model_validate([0.1, 0.3]) == CI(lo=0.1, hi=0.3)
    with pytest.raises(ValueError):
        CI.model_validate([0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        CI.model_validate({"lo": 0.1, "hi": 0.3, "low": 0.0})


def test_older_summary_ci_shapes_read_as_one_ci(tmp_path):
    old = {
        "pooled": {"r": 0.5, "ci_lo": 0.4, "ci_hi": 0.6},
        "by_group": [{"group": "norms", "mean_r": 0.3, "ci_lo": 0.1, "ci_hi": 0.5}],
        "distribution": {"one_minus_js_distance": {"mean": 0.7, "ci_lo": 0.6, "ci_hi": 0.8}},
        "nulls": {"mean_question_r": {"model": 0.3, "ci": [0.05, 0.2]}},
        "western_gap": {"verdict": "no evidence", "gap": 0.01, "ci": [-0.1, 0.2], "gap_ci": [-0.1, 0.2],
                        "raw": {"gap": 0.3, "gap_ci": [0.2, 0.4], "western_ci": [0.7, 0.9]},
                        "measures": {"r": {"gap": 0.1, "ci": [0.0, 0.2], "model_gap": 0.3}}},
    }
    s = Summary.model_validate(old)
    assert s.pooled.ci == CI(lo=0.4, hi=0.6) and s.by_group[0].ci == CI(lo=0.1, hi=0.5)
    assert s.distribution.one_minus_js_distance.ci == CI(lo=0.6, hi=0.8)
    assert s.nulls.mean_question_r.ci == CI(lo=0.05, hi=0.2)
    g = s.western_gap
    assert g.ci == CI(lo=-0.1, hi=0.2) and g.raw.ci == CI(lo=0.2, hi=0.4) and g.raw.western_ci == CI(lo=0.7, hi=0.9)
    assert g.measures["r"].ci == CI(lo=0.0, hi=0.2)
    # the new shape round-trips; the same CI under its old and new name with different values is refused
    assert Summary.model_validate(s.model_dump()) == s
    with pytest.raises(ValueError, match="gap_ci"):
        Summary.model_validate({"western_gap": {"ci": [0, 1], "gap_ci": [0, 2]}})
    with pytest.raises(ValueError, match="ci_lo/ci_hi"):
        Summary.model_validate({"pooled": {"ci_lo": 0.1, "ci": {"lo": 0.1, "hi": 0.2}}})
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(old))
    assert RunFolder(folder).summary().western_gap.ci.hi == 0.2


def test_unknown_keys_are_refused(tmp_path):
    with pytest.raises(ValueError):
        Summary.model_validate({"western_gap": {"measures": {"r": {"gap": 0.1, "surprise": 1}}}})
    with pytest.raises(ValueError):
        Summary.model_validate({"western_gap": {"raw": {"gap": 0.1, "surprise": 1}}})
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"pooled": {"r": 0.5, "ci": {"lo": 0.1, "hi": 0.2, "x": 1}}}))
    with pytest.raises(DataError, match="pooled.ci"):
        RunFolder(folder).summary()


@pytest.mark.parametrize("part", [
    {"robustness": {"orders": {"by_order": {"original": {"mean_question_r": 0.1, "surprise": 1}}}}},
    {"robustness": {"orders": {"score_shift": {"mean_abs_shift": 0.1, "surprise": 1}}}},
    {"run": {"threads": {"setting": "auto", "cap": 2, "surprise": 1}}},
    {"run": {"lm_eval": {"backend": "hf", "surprise": 1}}},
    {"run": {"wandb_artifact": {"name": "x", "surprise": 1}}},
    {"cultural_map": {"human": [{"country": "DEU", "secular": 1.0, "self_expression": 0.5, "surprise": 1}]}},
])
def test_every_part_this_codebase_writes_is_typed(part):
    with pytest.raises(ValueError, match="surprise|Field required"):
        Summary.model_validate(part)
