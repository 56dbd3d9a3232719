"""Area-adjusted accuracy and class areas from a stratified random sample, with SE and 95 % CI (numpy only).

`estimate_area_accuracy(sample)` applies the estimators of Stehman (2014), which hold for any strata,
to a `StratifiedSample`. When the strata are the map classes they are the estimators of Olofsson et al.
(2013, 2014): the error matrix p_ij = W_i n_ij / n_i. (2014, eq. 4), overall, user's and producer's
accuracy (eq. 1 to 3) with their variances (eq. 5 to 7), class areas and their SE (eq. 9 to 11); the only
difference is the finite population correction (1 - n_h / N_h) of Stehman's variances, which is on by
default (a census then has SE 0) and can be switched off to get Olofsson's figures exactly.

Orientation: the error matrix has the map classes in rows and the reference classes in columns
(Olofsson et al. 2014, Table 9), the opposite of `metrics.confusion_matrix`. Confidence intervals are
estimate +- 1.96 SE, not clipped to [0, 1]. Areas are a class's proportion times the pixels of the
estimated population, and times the pixel area (m^2, ha) when it is known.

Edge cases (each leaves a note in the result; nothing raises once the sample is valid):
- a class never mapped in the sample: its user's accuracy is undefined (None); a class absent from the
  reference: its producer's accuracy is undefined (None) and its area is estimated as 0;
- a stratum with one sample unit and more than one pixel: its sample variance is undefined, and so is
  every standard error (None), since each one sums a term per stratum; the estimates stand;
- a stratum with pixels but no sample unit: it cannot be estimated and is left out; the estimates are
  of the sampled strata only (their pixels are the population) and the note gives the pixels left out;
- a stratum without pixels (N_h = 0): ignored; units said to come from it are left out;
- a census (n_h = N_h in every stratum): the estimates are the counts and every SE is 0;
- no usable sample unit: every estimate is None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfipt_cli.evaluate.area_result import AreaAccuracy, AreaEstimate, ClassEstimate, Estimate
from cfipt_cli.evaluate.area_sample import AreaClass, StratifiedSample, StratumKey
from cfipt_cli.evaluate.stratified import Design, Estimates, estimate_means, estimate_ratios

OLOFSSON = "Olofsson et al. (2014): the strata are the map classes"
STEHMAN = "Stehman (2014): the strata differ from the map classes"


@dataclass(frozen=True)
class _Prepared:
    """The sample units usable for estimation, as arrays, with the design of their strata."""

    design: Design | None  # None: no usable unit
    map_class: np.ndarray  # (n,) class index
    reference: np.ndarray  # (n,) class index
    excluded_pixels: int
    notes: tuple[str, ...]


def _prepare(sample: StratifiedSample, corrected: bool) -> _Prepared:
    """Keep the strata with pixels and units; note the others (see the module docstring)."""
    drawn: dict[StratumKey, int] = {}
    for unit in sample.units:
        drawn[unit.stratum] = drawn.get(unit.stratum, 0) + 1
    notes: list[str] = []
    kept = [key for key, pixels in sample.strata.items() if pixels > 0 and drawn.get(key, 0) > 0]
    excluded = {key: pixels for key, pixels in sample.strata.items() if pixels > 0 and key not in drawn}
    for key, pixels in excluded.items():
        notes.append(
            f"stratum {key!r} has {pixels} pixels but no sample unit: it is left out, and the estimates "
            "are of the sampled strata only"
        )
    for key, pixels in sample.strata.items():
        if pixels == 0:
            dropped = drawn.get(key, 0)
            tail = f"; its {dropped} sample units are left out" if dropped else ""
            notes.append(f"stratum {key!r} has no pixels (N_h = 0): it is ignored{tail}")
    index = {key: i for i, key in enumerate(kept)}
    units = [u for u in sample.units if u.stratum in index]
    position = {c.id: i for i, c in enumerate(sample.classes)}
    design = None
    if units:
        design = Design(
            stratum=np.array([index[u.stratum] for u in units], dtype=np.int64),
            pixels=np.array([sample.strata[key] for key in kept], dtype=np.float64),
            units=np.array([drawn[key] for key in kept], dtype=np.float64),
            corrected=corrected,
        )
        singles = [key for key in kept if drawn[key] == 1 and sample.strata[key] > 1]
        if singles:
            notes.append(
                f"strata {', '.join(repr(k) for k in singles)} have one sample unit each: their sample "
                "variance is undefined, so no standard error or confidence interval is given"
            )
    else:
        notes.append("no usable sample unit: nothing can be estimated")
    return _Prepared(
        design=design,
        map_class=np.array([position[u.map_class] for u in units], dtype=np.int64),
        reference=np.array([position[u.reference] for u in units], dtype=np.int64),
        excluded_pixels=sum(excluded.values()),
        notes=tuple(notes),
    )


def _estimate(estimates: Estimates, index: int) -> Estimate:
    """One figure of a batch; NaN (undefined) becomes None."""
    value = float(estimates.value[index])
    se = None if estimates.se is None else float(estimates.se[index])
    if not np.isfinite(value):
        return Estimate(None, None)
    return Estimate(value, se if se is not None and np.isfinite(se) else None)


@dataclass(frozen=True)
class _Figures:
    """Every estimate of one sample, by class index (k classes)."""

    overall: Estimate
    users: list[Estimate]
    producers: list[Estimate]
    proportions: list[Estimate]
    cells: list[list[Estimate]]  # [map][reference]


def _figures(prepared: _Prepared, k: int) -> _Figures:
    """Build the indicators of Stehman (2014, eq. 12 to 23) and estimate them all at once."""
    design = prepared.design
    if design is None:
        undefined = Estimate(None, None)
        return _Figures(undefined, [undefined] * k, [undefined] * k, [undefined] * k, [[undefined] * k] * k)
    mapped = np.eye(k)[prepared.map_class]  # (n, k): x_u = 1 where the unit is mapped as class i
    observed = np.eye(k)[prepared.reference]  # (n, k): y_u = 1 where the reference is class j
    agree = mapped * observed  # (n, k): mapped and observed as the class
    cells = (mapped[:, :, None] * observed[:, None, :]).reshape(-1, k * k)
    overall = estimate_means(design, agree.sum(axis=1, keepdims=True))
    proportions = estimate_means(design, observed)
    matrix = estimate_means(design, cells)
    users = estimate_ratios(design, agree, mapped)
    producers = estimate_ratios(design, agree, observed)
    return _Figures(
        overall=_estimate(overall, 0),
        users=[_estimate(users, i) for i in range(k)],
        producers=[_estimate(producers, i) for i in range(k)],
        proportions=[_estimate(proportions, i) for i in range(k)],
        cells=[[_estimate(matrix, i * k + j) for j in range(k)] for i in range(k)],
    )


def _class_notes(classes: tuple[AreaClass, ...], counts: np.ndarray) -> list[str]:
    """A note per class absent from the sample's map or reference labels."""
    notes = []
    for i, c in enumerate(classes):
        mapped, observed = int(counts[i, :].sum()), int(counts[:, i].sum())
        if mapped == 0 and observed == 0:
            notes.append(
                f"class {c.name!r} is absent from the sample: its area is estimated as 0, and its user's "
                "and producer's accuracies are undefined"
            )
        elif mapped == 0:
            notes.append(f"class {c.name!r} is mapped in no sample unit: its user's accuracy is undefined")
        elif observed == 0:
            notes.append(
                f"class {c.name!r} is the reference of no sample unit: its area is estimated as 0 and its "
                "producer's accuracy is undefined"
            )
    return notes


def _area(proportion: Estimate, pixels: float, pixel_area_m2: float | None) -> AreaEstimate:
    square_metres = None if pixel_area_m2 is None else proportion.scaled(pixels * pixel_area_m2)
    return AreaEstimate(
        proportion=proportion,
        pixels=proportion.scaled(pixels),
        square_metres=square_metres,
        hectares=None if square_metres is None else square_metres.scaled(1e-4),
    )


def estimate_area_accuracy(
    sample: StratifiedSample, *, finite_population_correction: bool = True
) -> AreaAccuracy:
    """Overall, user's and producer's accuracy, class areas and the error matrix in area proportions."""
    prepared = _prepare(sample, finite_population_correction)
    k = len(sample.classes)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (prepared.map_class, prepared.reference), 1)
    figures = _figures(prepared, k)
    population = 0 if prepared.design is None else int(prepared.design.population)
    classes = tuple(
        ClassEstimate(
            id=c.id,
            name=c.name,
            users_accuracy=figures.users[i],
            producers_accuracy=figures.producers[i],
            area=_area(figures.proportions[i], population, sample.pixel_area_m2),
            mapped_pixels=sample.mapped_pixels_of(c.id),
            units_mapped=int(counts[i, :].sum()),
            units_reference=int(counts[:, i].sum()),
        )
        for i, c in enumerate(sample.classes)
    )
    return AreaAccuracy(
        method=OLOFSSON if sample.strata_are_map_classes else STEHMAN,
        strata_are_map_classes=sample.strata_are_map_classes,
        overall_accuracy=figures.overall,
        classes=classes,
        error_matrix=tuple(tuple(row) for row in figures.cells),
        sample_counts=tuple(tuple(int(v) for v in row) for row in counts),
        population_pixels=population,
        excluded_pixels=prepared.excluded_pixels,
        sample_size=int(prepared.map_class.size),
        pixel_area_m2=sample.pixel_area_m2,
        finite_population_correction=finite_population_correction,
        notes=(*prepared.notes, *_class_notes(sample.classes, counts)),
    )
