"""Every KPI is documented in docs/kpis.md, and every measure has a label for its drill-down."""

from pathlib import Path

from dashboards import kpis

DOC = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"


def test_every_kpi_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [k.key for k in kpis.KPIS if f"`{k.key}`" not in text]
    assert not missing


def test_every_measure_and_figure_has_a_label():
    keys = set(kpis.MEASURES) | {m for k in kpis.KPIS for m in k.measures}
    assert keys <= set(kpis.MEASURE_LABELS)
