"""The Inglehart–Welzel cultural map: traditional vs secular-rational values (x), survival vs self-expression (y).

Items: the ten WVS items of the published indices (Inglehart & Welzel; the WVS's TRADRAT5 and SURVSELF), by
their WVS-7 ids. A sign of +1 means a higher bank score (higher answer code, see culturelens.core.questions)
points to the secular-rational / self-expression end:

  traditional -> secular-rational           survival -> self-expression
  Q164 importance of God            (-1)    Q154+Q155 post-materialism: "more say" or
  autonomy index: Q8 independence,                    "freedom of speech" as 1st/2nd aim  (+1)
    Q14 determination (yes = -1),           Q182 homosexuality justifiable             (+1)
    minus Q15 religious faith,              Q209 signing a petition (3 = would never)  (-1)
    Q17 obedience                   (+1)    Q57 most people can be trusted (2 = careful) (-1)
  Q184 abortion justifiable         (+1)    Q46 feeling of happiness (4 = not at all)  (-1)
  Q254 national pride (4 = not proud) (+1)
  Q45 greater respect for authority (3 = bad) (+1)

Scoring, per country:
1. item value = sign x the country's mean score on the item's question (s_k in [-1, 1], linear in the answer
   code); a composite item sums its parts (the autonomy index; post-materialism counts the share of the two
   post-materialist goals in the answer distribution, so it needs distributions, not means);
2. each item is standardised over the human countries placed on the map (z = (v - mean) / sd, sd with ddof=1);
   model answers are standardised with the *human* mean and sd, so both sit on the same axes;
3. a dimension = the mean of its items' z-scores.
An item is used when its questions are in the bank and it has a value for at least MIN_COUNTRIES human
countries; a country is placed only when it has every used item (so all points average the same items); a map
needs at least MIN_COUNTRIES human countries and two items per dimension, else there is no map.

Where this departs from the published index: the published dimensions are factor scores of a factor analysis
(individual-level items aggregated to countries, fixed loadings, over all WVS/EVS countries); here every item
weighs the same, the standardisation is over the countries of the run (so positions are relative to them),
answers are expected values of answer distributions (for a model: its option probabilities), and the autonomy
index uses the four child qualities' "yes" shares. The post-materialism index needs Q154/Q155 in the bank: the
embedded bank leaves these nominal items out, so there the self-expression axis has four items, not five.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from culturelens.core.prompts import NO_COUNTRY as NO_PERSONA

MIN_COUNTRIES = 3
DIMENSIONS = ("secular", "self_expression")
AXIS_LABELS = {"secular": "traditional  \u2190  \u2192  secular-rational values",
               "self_expression": "survival  \u2190  \u2192  self-expression values"}


@dataclass(frozen=True)
class Part:
    qid: str
    sign: float  # multiplies the country's mean score (or the share of `codes`)
    codes: tuple[int, ...] = ()  # if set: the share of these answer codes (needs a distribution) instead of the mean


@dataclass(frozen=True)
class Item:
    name: str
    dimension: str  # "secular" or "self_expression"
    parts: tuple[Part, ...]


ITEMS: tuple[Item, ...] = (
    Item("importance of God", "secular", (Part("Q164", -1),)),
    Item("autonomy index", "secular", (Part("Q8", -1), Part("Q14", -1), Part("Q15", 1), Part("Q17", 1))),
    Item("abortion justifiable", "secular", (Part("Q184", 1),)),
    Item("national pride", "secular", (Part("Q254", 1),)),
    Item("respect for authority", "secular", (Part("Q45", 1),)),
    Item("post-materialism", "self_expression", (Part("Q154", 1, (2, 4)), Part("Q155", 1, (2, 4)))),
    Item("homosexuality justifiable", "self_expression", (Part("Q182", 1),)),
    Item("signing a petition", "self_expression", (Part("Q209", -1),)),
    Item("trust", "self_expression", (Part("Q57", -1),)),
    Item("happiness", "self_expression", (Part("Q46", -1),)),
)
MAP_QIDS = frozenset(p.qid for item in ITEMS for p in item.parts)


def _part_value(part: Part, row, bank) -> float:
    if not part.codes:
        mean = row.get("mean")
        return math.nan if mean is None else float(mean)
    dist = row.get("dist")
    if dist is None or (isinstance(dist, float) and math.isnan(dist)):
        return math.nan
    codes = bank.get(part.qid).codes
    return sum(p for p, code in zip(dist, codes) if code in part.codes)


def item_values(table: pd.DataFrame, bank) -> pd.DataFrame:
    """Country x item values (sign applied, composites summed; NaN where a part is missing).

    `table`: one row per (country, qid) with `mean` (score in [-1, 1]) and optionally `dist` (shares in the
    bank's scale order), like a HumanReference frame; model scores.jsonl rows fit after `model_table`.
    """
    rows = table[table["qid"].isin(MAP_QIDS) & table["qid"].map(lambda q: q in bank)]
    lookup = {(r["country"], r["qid"]): r for r in rows.to_dict("records")}
    countries = list(dict.fromkeys(rows["country"]))
    out = pd.DataFrame(index=pd.Index(countries, name="country"), columns=[i.name for i in ITEMS], dtype=float)
    for item in ITEMS:
        if not all(p.qid in bank for p in item.parts):
            continue
        for c in countries:
            parts = [lookup.get((c, p.qid)) for p in item.parts]
            if all(r is not None for r in parts):
                out.loc[c, item.name] = sum(p.sign * _part_value(p, r, bank) for p, r in zip(item.parts, parts))
    return out


def model_table(scores: pd.DataFrame) -> pd.DataFrame:
    """A model's scores.jsonl rows (country, qid, score, probs) in the `item_values` layout (mean, dist)."""
    return scores.rename(columns={"score": "mean", "probs": "dist"})[["country", "qid", "mean", "dist"]]


@dataclass
class MapScale:
    items: dict[str, str]  # used item -> dimension
    mean: pd.Series  # per used item, over the placed human countries
    sd: pd.Series


def fit_scale(human_values: pd.DataFrame, min_countries: int = MIN_COUNTRIES) -> MapScale | None:
    """The items to use and their human mean and sd; None when there are too few items or countries for a map."""
    counts = human_values.notna().sum()
    used = [i for i in ITEMS if counts.get(i.name, 0) >= min_countries]
    names = [i.name for i in used]
    placed = human_values[names].dropna()
    sd = placed.std(ddof=1) if len(placed) > 1 else pd.Series(dtype=float)
    ok = [i for i in used if len(placed) >= min_countries and sd.get(i.name, 0) > 0]
    if any(sum(i.dimension == d for i in ok) < 2 for d in DIMENSIONS):
        return None
    names = [i.name for i in ok]
    return MapScale({i.name: i.dimension for i in ok}, placed[names].mean(), sd[names])


def coordinates(values: pd.DataFrame, scale: MapScale) -> pd.DataFrame:
    """Country -> (secular, self_expression): the mean z-score of each dimension's items; countries missing an item are left out."""
    names = list(scale.items)
    z = ((values.reindex(columns=names) - scale.mean) / scale.sd).dropna()
    out = pd.DataFrame(index=z.index)
    for dim in DIMENSIONS:
        out[dim] = z[[n for n, d in scale.items.items() if d == dim]].mean(axis=1)
    return out


def cultural_map(human: pd.DataFrame, models: dict[str, pd.DataFrame], bank) -> dict | None:
    """Coordinates of the human countries and of each model's answers (persona countries and NONE), or None if no map.

    `human`: a reference frame (country, qid, mean, dist); `models`: name -> model_table(scores) frame.
    """
    human_values = item_values(human[human["country"] != NO_PERSONA], bank)
    scale = fit_scale(human_values)
    if scale is None:
        return None
    human_xy = coordinates(human_values, scale)
    model_xy = {name: coordinates(item_values(t, bank), scale) for name, t in models.items()}
    return {
        "items": scale.items,
        "human": human_xy,
        "models": {n: xy[xy.index != NO_PERSONA].loc[lambda d: d.index.isin(human_xy.index)] for n, xy in model_xy.items()},
        "no_persona": {n: xy.loc[NO_PERSONA] for n, xy in model_xy.items() if NO_PERSONA in xy.index},
    }


def to_json(result: dict) -> dict:
    """The map as plain JSON: items used and per-country coordinates."""
    def rows(df: pd.DataFrame) -> list[dict]:
        return [{"country": c, **{d: float(r[d]) for d in DIMENSIONS}} for c, r in df.iterrows()]

    return {
        "items": result["items"],
        "human": rows(result["human"]),
        "models": {n: rows(df) for n, df in result["models"].items()},
        "no_persona": {n: {d: float(s[d]) for d in DIMENSIONS} for n, s in result["no_persona"].items()},
    }


def from_json(data: dict) -> dict:
    """`to_json` output back to the `cultural_map` result (DataFrames)."""
    def frame(rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=["country", *DIMENSIONS]).set_index("country")

    return {"items": data["items"], "human": frame(data["human"]),
            "models": {n: frame(rows) for n, rows in data["models"].items()},
            "no_persona": {n: pd.Series(v) for n, v in data["no_persona"].items()}}


def combine(maps: dict[str, dict]) -> dict | None:
    """One map for several runs (label -> a run summary's `cultural_map`): humans and items from the first run; a run
    scored on other items or other human countries (another scale) is left out. None when no run has a map."""
    maps = {label: from_json(m) for label, m in maps.items() if m}
    if not maps:
        return None
    first = next(iter(maps.values()))
    same = {label: m for label, m in maps.items()
            if m["items"] == first["items"] and m["human"].round(9).equals(first["human"].round(9))}
    return {"items": first["items"], "human": first["human"],
            "models": {label: next(iter(m["models"].values())) for label, m in same.items() if m["models"]},
            "no_persona": {label: next(iter(m["no_persona"].values())) for label, m in same.items() if m["no_persona"]}}


MODEL_COLOURS = ("#C44E52", "#4C72B0", "#55A868", "#8172B3", "#CCB974", "#64B5CD")


def plot_map(result: dict, path: Path, title: str = "Inglehart\u2013Welzel cultural map") -> Path:
    """Human countries (grey, labelled), each model's persona answers (coloured, arrow from the human point) and
    its no-persona answer (star)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    human = result["human"]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter(human["secular"], human["self_expression"], s=28, color="#8C8C8C", label="humans (WVS-7)", zorder=3)
    for c, r in human.iterrows():
        ax.annotate(c, (r["secular"], r["self_expression"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for k, (name, xy) in enumerate(result["models"].items()):
        colour = MODEL_COLOURS[k % len(MODEL_COLOURS)]
        ax.scatter(xy["secular"], xy["self_expression"], s=18, color=colour, label=f"{name} as each country", zorder=4)
        for c, r in xy.iterrows():
            h = human.loc[c]
            ax.annotate("", xy=(r["secular"], r["self_expression"]), xytext=(h["secular"], h["self_expression"]),
                        arrowprops={"arrowstyle": "->", "color": colour, "alpha": 0.5, "lw": 0.8})
        if name in result["no_persona"]:
            s = result["no_persona"][name]
            ax.scatter([s["secular"]], [s["self_expression"]], marker="*", s=220, color=colour, edgecolor="black",
                       label=f"{name}, no persona", zorder=5)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_xlabel(AXIS_LABELS["secular"] + " (mean z)")
    ax.set_ylabel(AXIS_LABELS["self_expression"] + " (mean z)")
    n = {d: sum(v == d for v in result["items"].values()) for d in DIMENSIONS}
    ax.set_title(f"{title}\n({n['secular']} + {n['self_expression']} items, z over {len(human)} human countries)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
