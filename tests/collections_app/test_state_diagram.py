from pathlib import Path

from collections_app.state_diagram import case_state_mermaid

DOC = Path(__file__).resolve().parents[2] / "docs" / "case-states.md"


def test_diagram_shows_every_declared_transition():
    text = case_state_mermaid()
    assert "promised --> in_progress: break_promise, keep_promise" in text
    assert "legal_review --> litigation: approve_litigation" in text
    assert "on_hold --> legal_review" not in text


def test_committed_diagram_matches_the_code():
    assert case_state_mermaid() in DOC.read_text(encoding="utf-8"), (
        "docs/case-states.md is stale: run manage.py case_state_diagram --output docs/case-states.md"
    )
