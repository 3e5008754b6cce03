"""`culturelens data export`: the human reference and the probe's prompts as a Hugging Face `datasets.DatasetDict`.

Two splits, one row each per:
- ``reference``: (country, question): respondents n, the share of each answer option (None for means-only
  data), the mean score on [-1, 1] and the row's source, with the question's text, section, options and scale.
- ``prompts``: (question, country, template, option order): the full prompt text the probe sends. With a model
  (``rendering = "chat:<model>"``) it is rendered through that tokenizer's chat template exactly as
  `culturelens eval` renders it (special tokens as text, the answer cue opening the assistant turn); without one
  (``rendering = "plain"``) it is the base-model rendering, which needs no tokenizer.

Written three ways into one folder: ``save_to_disk`` (``load_from_disk(DIR)``), parquet files under ``data/``
(``load_dataset(DIR, "reference")``: the card's YAML header declares one config per split, as the Hub does for
tables of different columns) and the dataset card ``README.md`` with sources, citation, terms and the build.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from culturelens.core.inputs import EvalInputs
from culturelens.core.prompts import NO_COUNTRY, PromptItem, build_prompts
from culturelens.core.reference import WVS_CITATION, WVS_DOI

TERMS = ("The World Values Survey data are free for non-commercial research use; any use must cite the WVS "
         "(citation below). Only aggregates are included here (shares and means per country), never respondent rows.")


@dataclass
class PromptSettings:
    """How prompts are rendered (the probe section of an eval config)."""

    templates: list[str]
    orders: list[str]
    labels: str = "letters"
    answer_cue: str = "Answer:"
    tokenizer: object | None = None  # None: plain rendering
    chat: bool = False
    rendering: str = "plain"  # "plain" or "chat:<model name>"


def reference_features():
    from datasets import Features, Sequence, Value

    return Features({
        "country": Value("string"), "country_name": Value("string"), "zone": Value("string"), "western": Value("bool"),
        "qid": Value("string"), "section": Value("string"), "question": Value("string"),
        "options": Sequence(Value("string")), "scores": Sequence(Value("float64")),
        "n": Value("int64"), "shares": Sequence(Value("float64")), "mean": Value("float64"), "source": Value("string"),
    })


def prompt_features():
    from datasets import Features, Sequence, Value

    return Features({
        "prompt_key": Value("string"), "qid": Value("string"), "country": Value("string"), "template": Value("string"),
        "order": Value("string"), "language": Value("string"), "rendering": Value("string"), "prompt": Value("string"),
        "labels": Sequence(Value("string")), "option_index": Sequence(Value("int64")),
        "options_presented": Sequence(Value("string")),
    })


def reference_rows(inputs: EvalInputs) -> list[dict]:
    countries = {c.alpha3: c for c in inputs.countries}
    rows = []
    for r in inputs.reference.to_rows():
        q, c = inputs.bank.get(r["qid"]), countries[r["country"]]
        rows.append({
            "country": c.alpha3, "country_name": c.name, "zone": c.zone, "western": c.western,
            "qid": q.qid, "section": q.category, "question": q.text,
            "options": [o.label for o in q.options], "scores": q.scores,
            "n": r["n"], "shares": r["dist"], "mean": r["mean"], "source": r["source"],
        })
    return rows


def build_items(inputs: EvalInputs, settings: PromptSettings) -> list[PromptItem]:
    """The prompts of a run on these inputs: persona prompts only for (country, question) pairs with human answers."""
    pairs = set(zip(inputs.reference.df["country"], inputs.reference.df["qid"]))
    return build_prompts(settings.tokenizer, [inputs.bank.get(q) for q in inputs.qids], inputs.countries, pairs,
                         settings.templates, settings.orders, settings.labels, settings.answer_cue, settings.chat)


def prompt_rows(inputs: EvalInputs, items: list[PromptItem], rendering: str) -> list[dict]:
    rows = []
    for it in items:
        names = [o.label for o in inputs.bank.get(it.qid).options]
        rows.append({
            "prompt_key": it.key, "qid": it.qid, "country": it.country, "template": it.template, "order": it.order,
            "language": it.language, "rendering": rendering, "prompt": it.text, "labels": list(it.labels),
            "option_index": list(it.option_index), "options_presented": [names[i] for i in it.option_index],
        })
    return rows


def build_dataset(inputs: EvalInputs, settings: PromptSettings):
    """The `DatasetDict` {"reference", "prompts"}."""
    from datasets import Dataset, DatasetDict

    items = build_items(inputs, settings)
    return DatasetDict({
        "reference": Dataset.from_list(reference_rows(inputs), features=reference_features()),
        "prompts": Dataset.from_list(prompt_rows(inputs, items, settings.rendering), features=prompt_features()),
    })


def export_dataset(inputs: EvalInputs, settings: PromptSettings, out: str | Path, reference_spec: str = "default") -> Path:
    """Write DIR/ (save_to_disk), DIR/data/<split>.parquet and the card DIR/README.md; returns DIR."""
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar, is_progress_bar_enabled

    out = Path(out)
    ds = build_dataset(inputs, settings)
    out.mkdir(parents=True, exist_ok=True)
    shown = is_progress_bar_enabled()
    disable_progress_bar()
    try:
        ds.save_to_disk(str(out))
        (out / "data").mkdir(exist_ok=True)
        for split, part in ds.items():
            part.to_parquet(str(out / "data" / f"{split}.parquet"))
    finally:
        if shown:
            enable_progress_bar()
    (out / "README.md").write_text(dataset_card(inputs, settings, ds, reference_spec), encoding="utf-8")
    return out


def card_header() -> str:
    """YAML front matter: the license and one config per split (their columns differ), as the Hub reads it."""
    return "\n".join([
        "---", "license: other", "license_name: wvs-non-commercial-research",
        "pretty_name: culturelens WVS wave-7 reference and probe prompts", "language: [en]",
        "configs:",
        "- config_name: reference", "  data_files: [{split: train, path: data/reference.parquet}]",
        "- config_name: prompts", "  data_files: [{split: train, path: data/prompts.parquet}]",
        "---",
    ])


def dataset_card(inputs: EvalInputs, settings: PromptSettings, ds, reference_spec: str) -> str:
    """The dataset card: YAML header (configs, license) + sources, citation, terms, columns and how it was built."""
    from culturelens import __version__

    ref, prompts = ds["reference"], ds["prompts"]
    with_dist = sum(s is not None for s in ref["shares"])
    sources = inputs.reference.meta.get("sources", [])
    source_lines = "\n".join(f"- `{s.get('kind', '?')}`: {', '.join(s.get('files', []))} ({s.get('rows', '?')} rows)"
                             for s in sources) or f"- reference `{reference_spec}`"
    personas = sum(c != NO_COUNTRY for c in prompts["country"])
    ref_row = (f"| `reference` | {len(ref)} | (country, question): {len(set(ref['country']))} countries, "
               f"{len(set(ref['qid']))} questions; {with_dist} rows with answer shares, the rest means only |")
    prompt_row = (f"| `prompts` | {len(prompts)} | (question, country, template, option order): {personas} persona prompts "
                  f"and {len(prompts) - personas} without a persona (`country = {NO_COUNTRY}`) |")
    header = card_header()
    build = {"culturelens": __version__, "reference": reference_spec, "templates": settings.templates,
             "orders": settings.orders, "labels": settings.labels, "answer_cue": settings.answer_cue,
             "rendering": settings.rendering}
    return f"""{header}

# culturelens: World Values Survey wave-7 reference and probe prompts

Human answers to World Values Survey (WVS) wave-7 value questions per country, and the multiple-choice
prompts with which `culturelens eval` asks a language model the same questions as a person from each country.

## Splits

| split | rows | one row per |
|---|---|---|
{ref_row}
{prompt_row}

`reference` columns: `country` (ISO 3166 alpha-3), `country_name`, `zone` (Inglehart-Welzel cultural zone, approximate),
`western` (the 'rich West' flag), `qid` (WVS variable), `section` (WVS thematic section), `question` (the project's
wording), `options` (answer texts in scale order), `scores` (their scale values s_k, linear in [-1, 1]), `n`
(respondents with a valid answer; null for means-only rows), `shares` (share r_k of respondents per option in scale
order; null for means-only rows), `mean` (sum_k r_k s_k, the country's mean score in [-1, 1]), `source`.

`prompts` columns: `prompt` (the full text sent to the model), `rendering` (here `{settings.rendering}`; `plain` is the
base-model rendering; `chat:<model>` was rendered with that model's chat template, special tokens written out as
text, the answer cue opening the assistant turn), `labels` (option labels in presented order), `option_index`
(presented position -> option index in scale order), `options_presented`, `template`, `order`
(`original` = WVS code order, `reversed`), `language`, `prompt_key` (culturelens's cache key of the prompt).

## Sources

{source_lines}

Respondent-level files are the WVS wave-7 country-pooled data (or per-country exports in its layout); country-means
files give means only. Shares are unweighted; negative WVS codes (don't know, no answer, missing) are dropped; codes
of questions not in scale order are remapped.

## Terms and citation

{TERMS}

> {WVS_CITATION}

DOI: [{WVS_DOI}](https://doi.org/{WVS_DOI}). Method of the model probe: Kim & Baek, *Exploring Large Language Models
on Cross-Cultural Values in Connection with Training Methodology* (arXiv 2412.08846).

## How it was built

`culturelens data export` ({json.dumps(build)}): the reference is the culturelens reference
(`culturelens data build-reference`, method: {inputs.reference.meta.get('method', 'see culturelens/core/reference')});
the prompts are built by `culturelens.core.prompts.build_prompts` for every (question, country) pair with human
answers. Load with `datasets.load_from_disk("<this folder>")` or `datasets.load_dataset("<this folder>", "reference")`.
"""
