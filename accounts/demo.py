"""The demo users of every role (used by seed_demo and printed by `make run`)."""

from accounts.models import Role, Team, User

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - a published demo login, refused by production data checks

# username, first name, last name, role, team name (None: no team), language
DEMO_USERS = [
    ("admin", "Ada", "Admin", Role.ADMIN, None, "en"),
    ("head1", "静", "周", Role.HEAD, None, "zh-hans"),
    ("supervisor1", "丽", "王", Role.SUPERVISOR, "East team", "zh-hans"),
    ("supervisor2", "Sam", "Carter", Role.SUPERVISOR, "West team", "en"),
    ("teamlead1", "Olivia", "Jones", Role.TEAM_LEAD, "East team", "en"),
    ("agent1", "伟", "李", Role.AGENT, "East team", "zh-hans"),
    ("agent2", "Emma", "Brown", Role.AGENT, "East team", "en"),
    ("agent3", "娜", "张", Role.AGENT, "East team", "zh-hans"),
    ("agent4", "Liam", "Smith", Role.AGENT, "West team", "en"),
    ("agent5", "强", "刘", Role.AGENT, "West team", "zh-hans"),
    ("legal1", "敏", "陈", Role.LEGAL, None, "zh-hans"),
]


def create_demo_users() -> list[User]:
    users = []
    teams: dict[str, Team] = {}
    for username, first, last, role, team_name, language in DEMO_USERS:
        team = None
        if team_name:
            team = teams.get(team_name) or Team.objects.get_or_create(name=team_name)[0]
            teams[team_name] = team
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "role": role,
                "team": team,
                "language": language,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if role == Role.SUPERVISOR and team and team.supervisor_id is None:
            team.supervisor = user
            team.save(update_fields=["supervisor"])
        users.append(user)
    return users


def demo_logins_text() -> str:
    lines = [f"  Demo logins (password for all: {DEMO_PASSWORD}):"]
    for username, _first, _last, role, team_name, _lang in DEMO_USERS:
        lines.append(f"    {username:<12} {role.label:<16} {team_name or ''}")
    return "\n".join(lines)
