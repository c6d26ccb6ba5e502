"""The case state machine drawn from the transitions declared on `Case` (never by hand)."""

from collections import defaultdict

from collections_app.models import Case


def case_state_mermaid() -> str:
    field = Case._meta.get_field("state")
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for transition in field.get_all_transitions(Case):
        edges[(transition.source, transition.target)].append(transition.name)
    lines = ["stateDiagram-v2", "    [*] --> new"]
    for (source, target), names in sorted(edges.items()):
        lines.append(f"    {source} --> {target}: {', '.join(sorted(names))}")
    lines += ["    resolved --> [*]", "    written_off --> [*]"]
    return "\n".join(lines) + "\n"
