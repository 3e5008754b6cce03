"""resolve_inputs: the input fields every stage shares, including a user country table (countries_file)."""
from __future__ import annotations

import pytest

from culturelens.core.countries import load_countries
from culturelens.core.errors import DataError
from culturelens.core.inputs import InputSpec, resolve_inputs
from culturelens.eval.config import EvalConfig
from culturelens.synth.config import SynthConfig

HEADER = "alpha3,alpha2,numeric,name,languages,zone,western,aliases\n"


@pytest.fixture
def countries_csv(tmp_path):
    # Germany moved to another zone and out of the rich West, under a new alias; Mexico unchanged
    p = tmp_path / "countries.csv"
    p.write_text(HEADER + "DEU,DE,276,Germany,de,Orthodox Europe,False,Teutonia\n")
    return p


def test_a_user_country_table_replaces_rows_and_keeps_the_rest(countries_csv):
    table = load_countries(countries_csv)
    assert table["DEU"].zone == "Orthodox Europe" and table["DEU"].western is False
    assert table["MEX"] == load_countries()["MEX"] and len(table) == len(load_countries())


def test_countries_file_reaches_the_resolved_countries(countries_csv):
    spec = InputSpec(countries=["Teutonia", "MEX"], questions=["Q177"], countries_file=str(countries_csv))
    got = {c.alpha3: c for c in resolve_inputs(spec).countries}
    assert got["DEU"].zone == "Orthodox Europe" and got["DEU"].western is False
    assert got["MEX"].zone == "Latin America"
    zones = resolve_inputs(InputSpec(countries=["DEU"], questions=["Q177"], countries_file=str(countries_csv),
                                     western="zones")).countries
    assert zones[0].western is False  # Orthodox Europe is not a Western zone
    # without the file, the embedded row
    assert resolve_inputs(InputSpec(countries=["DEU"], questions=["Q177"])).countries[0].western is True


def test_default_country_list_uses_the_user_table(countries_csv):
    countries = resolve_inputs(InputSpec(questions=["Q177"], countries_file=str(countries_csv))).countries
    assert next(c for c in countries if c.alpha3 == "DEU").zone == "Orthodox Europe"


def test_eval_and_synth_configs_pass_countries_file(countries_csv):
    ev = EvalConfig.model_validate({"model": {"name_or_path": "x"}, "countries": ["DEU"], "questions": ["Q177"],
                                    "countries_file": str(countries_csv)})
    assert resolve_inputs(ev).countries[0].zone == "Orthodox Europe"
    sy = SynthConfig.model_validate({"countries": ["DEU"], "questions": ["Q177"], "countries_file": str(countries_csv)})
    assert resolve_inputs(sy).countries[0].zone == "Orthodox Europe"


def test_bad_countries_file(tmp_path):
    with pytest.raises(DataError, match="countries file .* does not exist"):
        resolve_inputs(InputSpec(countries=["DEU"], countries_file=str(tmp_path / "nope.csv")))
    bad = tmp_path / "bad.csv"
    bad.write_text("alpha3,name\nDEU,Germany\n")
    with pytest.raises(DataError, match="needs the columns"):
        resolve_inputs(InputSpec(countries=["DEU"], countries_file=str(bad)))
    with pytest.raises(DataError, match="unknown country 'Teutonia'"):
        resolve_inputs(InputSpec(countries=["Teutonia"]))
