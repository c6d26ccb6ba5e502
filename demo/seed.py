"""A realistic synthetic portfolio for demos and manual testing (`manage.py seed_demo`).

Deterministic: the same seed gives the same people, accounts and history (each case draws from its own
`random.Random`, seeded by the seed and the account reference, so one refused step cannot shift the
history of every case after it). Nothing here is real:

- Chinese national IDs use province code 99, which does not exist, so no ID can be a real person's;
- US SSNs are 9xx-00-xxxx: group 00 is never issued, and the 9xx area is not used for SSNs;
- US numbers are 555-01xx, the range reserved for fiction; e-mail addresses are on example.com/.net/.org.

The portfolio is bulk-inserted (a handful of INSERTs); then ninety days of history are lived in order
(demo.history): cases opened by the real set-based service on the night after each missed due date, worked
through the services (contacts, promises, payments, plans, holds, notes, legal decisions) exactly as agents
and jobs would, with the nightly steps between the days (promises and plans broken, escalation rules,
snapshots for the roll and cure rates). The contact policy may refuse a step; the refusal is counted by
rule and the step skipped.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from accounts.demo import create_demo_users
from accounts.models import Role, Team, User
from collections_app import delinquency
from collections_app.models import (
    Bucket,
    Cardholder,
    Case,
    ContactPoint,
    ContactPointKind,
    CreditAccount,
    PartyRole,
    Product,
    Queue,
)
from collections_app.services import contactability, queues
from core.masking import pii_hash
from dashboards import rollups
from demo.history import HISTORY_DAYS, History, demo_rules_switch_on
from legal.models import LegalReferral

DEFAULT_SEED = 20261128
REF_PREFIX = "DEMO-"
CENT = Decimal("0.01")

# --- Names, places, numbers -------------------------------------------------------------------------

# Common surnames, most frequent first (drawn with weights falling off down the list), with pinyin for
# e-mail addresses.
CN_SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"),
    ("林", "lin"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"),
    ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
    ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("袁", "yuan"),
    ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai"), ("余", "yu"), ("杜", "du"),
    ("叶", "ye"), ("程", "cheng"), ("苏", "su"), ("魏", "wei"), ("吕", "lv"), ("丁", "ding"),
    ("任", "ren"), ("沈", "shen"), ("姚", "yao"), ("卢", "lu"), ("姜", "jiang"), ("崔", "cui"),
    ("钟", "zhong"), ("谭", "tan"), ("陆", "lu"), ("汪", "wang"), ("范", "fan"), ("金", "jin"),
    ("石", "shi"), ("廖", "liao"), ("贾", "jia"), ("夏", "xia"), ("韦", "wei"), ("方", "fang"),
    ("白", "bai"), ("邹", "zou"), ("孟", "meng"), ("熊", "xiong"), ("秦", "qin"), ("欧阳", "ouyang"),
]  # fmt: skip
CN_GIVEN_NAMES = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀英", "xiuying"), ("敏", "min"), ("静", "jing"),
    ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"),
    ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"),
    ("秀兰", "xiulan"), ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("桂英", "guiying"),
    ("建华", "jianhua"), ("建国", "jianguo"), ("志强", "zhiqiang"), ("海燕", "haiyan"),
    ("晓东", "xiaodong"), ("晓明", "xiaoming"), ("婷婷", "tingting"), ("欣怡", "xinyi"),
    ("子涵", "zihan"), ("浩然", "haoran"), ("宇轩", "yuxuan"), ("梓萱", "zixuan"), ("俊杰", "junjie"),
    ("雪梅", "xuemei"), ("玉兰", "yulan"), ("红梅", "hongmei"), ("文博", "wenbo"), ("思远", "siyuan"),
    ("佳琪", "jiaqi"), ("嘉怡", "jiayi"), ("鹏", "peng"), ("辉", "hui"), ("斌", "bin"), ("宁", "ning"),
    ("琳", "lin"), ("倩", "qian"), ("颖", "ying"), ("慧", "hui"), ("凯", "kai"), ("昊", "hao"),
    ("博", "bo"), ("帆", "fan"), ("春梅", "chunmei"), ("国强", "guoqiang"), ("德明", "deming"),
    ("丹", "dan"), ("玲", "ling"), ("萍", "ping"), ("飞", "fei"), ("鑫", "xin"), ("立新", "lixin"),
    ("振华", "zhenhua"), ("雨涵", "yuhan"), ("一诺", "yinuo"), ("晨", "chen"), ("建军", "jianjun"),
]  # fmt: skip
EN_FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony",
    "Sandra", "Mark", "Ashley", "Donald", "Kimberly", "Steven", "Emily", "Paul", "Donna", "Andrew",
    "Michelle", "Joshua", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah",
    "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Laura", "Ryan", "Sharon", "Jacob", "Cynthia",
    "Gary", "Kathleen", "Nicholas", "Amy", "Eric", "Angela", "Jose", "Maria", "Carlos", "Sofia", "Luis",
    "Ana", "Kenji", "Priya", "Omar", "Fatima",
)  # fmt: skip
EN_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen",
    "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
    "Carter", "Roberts", "Chen", "Kim", "Patel", "O'Brien", "Murphy", "Sullivan",
)  # fmt: skip


@dataclass(frozen=True)
class CnCity:
    name: str  # with the province, as written on an envelope
    districts: tuple[str, ...]
    streets: tuple[str, ...]
    landline_area: str
    weight: int


CN_CITIES = [
    CnCity(
        "上海市",
        ("浦东新区", "徐汇区", "静安区", "闵行区"),
        ("世纪大道", "南京西路", "漕溪北路", "虹梅路"),
        "21",
        6,
    ),
    CnCity(
        "北京市",
        ("朝阳区", "海淀区", "东城区", "丰台区"),
        ("建国路", "中关村大街", "东直门内大街", "丰台路"),
        "10",
        6,
    ),
    CnCity("广东省广州市", ("天河区", "越秀区", "海珠区"), ("天河路", "中山五路", "江南大道"), "20", 4),
    CnCity("广东省深圳市", ("南山区", "福田区", "宝安区"), ("深南大道", "福华路", "宝安大道"), "755", 4),
    CnCity("浙江省杭州市", ("西湖区", "上城区", "滨江区"), ("文三路", "延安路", "江南大道"), "571", 3),
    CnCity("四川省成都市", ("武侯区", "锦江区", "高新区"), ("人民南路", "春熙路", "天府大道"), "28", 3),
    CnCity("湖北省武汉市", ("武昌区", "江汉区", "洪山区"), ("中南路", "解放大道", "珞喻路"), "27", 2),
    CnCity("江苏省南京市", ("鼓楼区", "玄武区", "建邺区"), ("中山路", "北京东路", "江东中路"), "25", 2),
]
CN_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
    "157", "158", "159", "166", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188",
    "189", "198", "199",
)  # fmt: skip


@dataclass(frozen=True)
class UsCity:
    name: str
    state: str
    zip3: str
    time_zone: str
    area_codes: tuple[str, ...]
    weight: int

    @property
    def jurisdiction(self) -> str:
        # Massachusetts layers its debt-collection rules (940 CMR 7.00) on top of Regulation F.
        return "US-MA" if self.state == "MA" else "US"


US_CITIES = [
    UsCity("New York", "NY", "100", "America/New_York", ("212", "646", "718"), 9),
    UsCity("Boston", "MA", "021", "America/New_York", ("617", "857"), 2),
    UsCity("Worcester", "MA", "016", "America/New_York", ("508", "774"), 1),
    UsCity("Philadelphia", "PA", "191", "America/New_York", ("215", "267"), 4),
    UsCity("Atlanta", "GA", "303", "America/New_York", ("404", "678"), 4),
    UsCity("Miami", "FL", "331", "America/New_York", ("305", "786"), 4),
    UsCity("Chicago", "IL", "606", "America/Chicago", ("312", "773"), 6),
    UsCity("Dallas", "TX", "752", "America/Chicago", ("214", "469"), 4),
    UsCity("Houston", "TX", "770", "America/Chicago", ("713", "832"), 4),
    UsCity("Minneapolis", "MN", "554", "America/Chicago", ("612",), 2),
    UsCity("Los Angeles", "CA", "900", "America/Los_Angeles", ("213", "310", "323"), 7),
    UsCity("San Francisco", "CA", "941", "America/Los_Angeles", ("415", "628"), 3),
    UsCity("Seattle", "WA", "981", "America/Los_Angeles", ("206",), 3),
    UsCity("Portland", "OR", "972", "America/Los_Angeles", ("503",), 2),
    UsCity("Las Vegas", "NV", "891", "America/Los_Angeles", ("702",), 2),
]
US_STREETS = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Ave", "Washington St", "Lake St", "Hill Rd",
    "Elm St", "Pine St", "Sunset Blvd", "2nd St", "Church St", "River Rd",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")

# Share of cardholders in China; the rest are in the US.
CN_SHARE = 0.7
# Cardholder flags, as probabilities per cardholder: (China, US).
FLAG_RATES = {
    "do_not_contact": (0.015, 0.02),
    "cease_communication": (0.005, 0.025),
    "attorney_represented": (0.01, 0.03),
    "bankruptcy": (0.0, 0.015),  # personal bankruptcy is rare in China (Shenzhen only, since 2021)
    "deceased": (0.004, 0.004),
    "vulnerable": (0.04, 0.04),
}

# How many accounts of each bucket, per 100 (drawn from a shuffled deck, so a small portfolio still
# holds every bucket in about these proportions).
BUCKET_WEIGHTS = {
    Bucket.CURRENT: 10,
    Bucket.M1: 30,
    Bucket.M2: 17,
    Bucket.M3: 11,
    Bucket.M4: 8,
    Bucket.M5: 7,
    Bucket.M6: 6,
    Bucket.M6_PLUS: 11,
}
PRODUCT_WEIGHTS = {
    "CN": {Product.CREDIT_CARD: 55, Product.CONSUMER_CREDIT: 30, Product.INSTALLMENT_LOAN: 15},
    "US": {Product.CREDIT_CARD: 60, Product.CONSUMER_CREDIT: 15, Product.INSTALLMENT_LOAN: 25},
}
PRODUCT_CODES = {Product.CREDIT_CARD: "CC", Product.CONSUMER_CREDIT: "CL", Product.INSTALLMENT_LOAN: "IL"}
# (limits or loan amounts, weights) per (country, product), in whole currency units.
AMOUNTS = {
    ("CN", Product.CREDIT_CARD): ((3000, 5000, 8000, 10000, 15000, 20000, 30000, 50000, 80000, 100000),
                                 (5, 10, 10, 15, 15, 15, 12, 8, 5, 5)),
    ("CN", Product.CONSUMER_CREDIT): ((1000, 2000, 3000, 5000, 8000, 10000, 20000, 30000),
                                      (8, 12, 15, 20, 15, 15, 10, 5)),
    ("CN", Product.INSTALLMENT_LOAN): ((10000, 20000, 30000, 50000, 80000, 100000, 150000, 200000),
                                       (10, 15, 20, 20, 12, 10, 8, 5)),
    ("US", Product.CREDIT_CARD): ((500, 1000, 1500, 2500, 3000, 5000, 7500, 10000, 15000, 20000),
                                  (5, 10, 10, 15, 15, 15, 12, 8, 5, 5)),
    ("US", Product.CONSUMER_CREDIT): ((1000, 2500, 5000, 10000), (20, 35, 30, 15)),
    ("US", Product.INSTALLMENT_LOAN): ((3000, 5000, 8000, 12000, 20000, 30000), (15, 25, 25, 15, 12, 8)),
}  # fmt: skip

# --- Queues -------------------------------------------------------------------------------------------

# name, team, order, criteria. East works Chinese early-stage cases; West works US early-stage cases and
# every late-stage case (it has a Chinese-speaking agent).
DEMO_QUEUES = [
    ("East: early (M1-M2)", "East team", 10, {"buckets": ["M1", "M2"], "jurisdictions": ["CN"]}),
    ("West: early US (M1-M2)", "West team", 20, {"buckets": ["M1", "M2"], "jurisdictions": ["US", "US-MA"]}),
    ("West: late (M3+)", "West team", 30, {"buckets": ["M3", "M4", "M5", "M6", "M6+"]}),
]


@dataclass
class SeedSummary:
    cardholders: int
    accounts: int
    cases_opened: int
    states: dict[str, int]
    contacts: int = 0
    promises: int = 0
    payments: int = 0
    plans: int = 0
    referrals: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        states = ", ".join(f"{state} {n:,}" for state, n in self.states.items())
        refused = sum(self.refused.values())
        return (
            f"Seeded {self.cardholders:,} cardholders, {self.accounts:,} accounts, "
            f"{self.cases_opened:,} cases ({states}); {self.contacts:,} contacts, "
            f"{self.promises:,} promises, {self.payments:,} payments, {self.plans:,} plans, "
            f"{self.referrals:,} referrals to legal by escalation rules, {refused:,} steps refused; "
            f"{self.seconds:.1f} s."
        )


def seed_portfolio(
    *,
    cardholders: int = 2000,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
    history_days: int = HISTORY_DAYS,
) -> SeedSummary:
    """Create `cardholders` synthetic cardholders with their accounts and contact points, the demo queues,
    and ninety days of history lived in order through the services and the nightly steps (demo.history):
    cases opened the night after their first missed due date, worked, promised, paid, put on plans,
    escalated by the shipped escalation rules (switched on live for the demo) and decided by legal.
    Creates the demo users and teams if they are missing; ends by rolling up the dashboards.

    The portfolio (people, accounts, queues) goes in as one transaction; the history is then written step
    by step through the services, each step in its own transaction as in production (on PostgreSQL).

    `today` is the as-of date of days past due (default: today in TIME_ZONE); the history covers the
    `history_days` days before it (cases opened earlier are opened on their night, then left alone until
    the history begins)."""
    started = time.monotonic()
    now = timezone.now()
    today = today or timezone.localdate(now)
    create_demo_users()
    demo_rules_switch_on()
    with transaction.atomic():
        portfolio = _PortfolioBuilder(random.Random(f"{seed}:portfolio"), today, start=_next_number())
        portfolio.build(cardholders)
        for holder in portfolio.cardholders:  # bulk_create skips save(), which keeps the search hashes
            holder.national_id_hash = pii_hash(holder.national_id)
        for point in portfolio.contact_points:
            point.value_hash = pii_hash(point.value)
        for account in portfolio.accounts:  # the card number is encrypted by the field itself
            account.set_card_number_keys()
        Cardholder.objects.bulk_create(portfolio.cardholders, batch_size=1000)
        CreditAccount.objects.bulk_create(portfolio.accounts, batch_size=1000)
        ContactPoint.objects.bulk_create(portfolio.contact_points, batch_size=1000)
        queues_ensure()
    account_ids = [a.pk for a in portfolio.accounts]
    history = History(seed=seed, today=today, now=now, points=portfolio.points_by_holder(), days=history_days)
    history.plan(portfolio.accounts)
    with _cheap_commits():
        history.run()
    with transaction.atomic():
        history.redate.apply()
    with transaction.atomic():
        cases_place_in_queues()
        queues.refresh_priorities(now=now)
    # Who may be called now, stored on each open case (what Next case and My work read; beat keeps it).
    contactability.contactability_roll(now=now)
    # The dashboards' tables up to yesterday, from the first day of the history (today is read live).
    rollups.refresh(as_of=today, snapshots=False)
    cases = Case.objects.filter(account_id__in=account_ids)
    states = dict(cases.values_list("state").annotate(n=Count("pk")).order_by("state"))
    return SeedSummary(
        cardholders=len(portfolio.cardholders),
        accounts=len(portfolio.accounts),
        cases_opened=cases.count(),
        states=states,
        contacts=history.counts["contacts"],
        promises=history.counts["promises"],
        payments=history.counts["payments"],
        plans=history.counts["plans"],
        referrals=LegalReferral.objects.filter(case__account_id__in=account_ids).count(),
        refused=dict(history.refused),
        seconds=time.monotonic() - started,
    )


@contextmanager
def _cheap_commits():
    """Each history step commits on its own, as in production, and waiting for the disk on each of
    thousands of small commits would double the run time. PostgreSQL: synchronous_commit=off for this
    session (a crash may lose the last commits, never corrupt anything). SQLite, where every commit is
    a file sync: one transaction for the whole history. Inside an outer transaction (tests) nothing
    commits anyway."""
    if connection.in_atomic_block:
        yield
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
    else:
        with transaction.atomic():
            yield


def _next_number() -> int:
    """Demo references continue after the last demo cardholder, so that --force can seed again."""
    last = (
        Cardholder.objects.filter(external_ref__startswith=REF_PREFIX)
        .order_by("-external_ref")
        .values_list("external_ref", flat=True)
        .first()
    )
    return int(last.removeprefix(REF_PREFIX)) + 1 if last else 1


# --- The portfolio ------------------------------------------------------------------------------------


def _deck(rng: random.Random, weights: dict, size: int) -> list:
    """`size` items in proportion to `weights` (largest remainder), shuffled: unlike independent draws, a
    small deck still holds every item with a weight of at least size / total."""
    total = sum(weights.values())
    exact = {key: w * size / total for key, w in weights.items()}
    counts = {key: math.floor(x) for key, x in exact.items()}
    short = size - sum(counts.values())
    for key in sorted(exact, key=lambda k: counts[k] - exact[k])[:short]:
        counts[key] += 1
    deck = [key for key, n in counts.items() for _ in range(n)]
    rng.shuffle(deck)
    return deck


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _cn_national_id(rng: random.Random) -> str:
    """18 digits: region (province 99 does not exist), birth date, sequence, ISO 7064 MOD 11-2 check."""
    birth = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 42))
    body = f"99{rng.randrange(100, 10000):04d}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


class _PortfolioBuilder:
    def __init__(self, rng: random.Random, today: date, *, start: int):
        self.rng = rng
        self.today = today
        self.start = start
        self.cardholders: list[Cardholder] = []
        self.accounts: list[CreditAccount] = []
        self.contact_points: list[ContactPoint] = []
        self.boundaries = delinquency.bucket_boundaries()

    def build(self, count: int) -> None:
        rng = self.rng
        people = [self._person(self.start + i) for i in range(count)]
        n_accounts = [rng.choices((1, 2, 3), weights=(60, 30, 10))[0] for _ in people]
        buckets = iter(_deck(rng, BUCKET_WEIGHTS, sum(n_accounts)))
        for (holder, country, points), n in zip(people, n_accounts, strict=True):
            self.cardholders.append(holder)
            self.contact_points.extend(points)
            for k in range(n):
                self.accounts.append(self._account(holder, country, k, next(buckets)))

    def points_by_holder(self) -> dict[int, list[ContactPoint]]:
        by_holder: dict[int, list[ContactPoint]] = {}
        for point in self.contact_points:
            by_holder.setdefault(point.cardholder.pk, []).append(point)
        return by_holder

    # People

    def _person(self, number: int) -> tuple[Cardholder, str, list[ContactPoint]]:
        rng = self.rng
        country = "CN" if rng.random() < CN_SHARE else "US"
        holder = Cardholder(external_ref=f"{REF_PREFIX}{number:07d}")
        flags = {name: rng.random() < rates[country == "US"] for name, rates in FLAG_RATES.items()}
        for name, value in flags.items():
            setattr(holder, name, value)
        points = self._cn_person(holder) if country == "CN" else self._us_person(holder)
        return holder, country, _unique_points(points)

    def _cn_person(self, holder: Cardholder) -> list[ContactPoint]:
        rng = self.rng
        surname, surname_py = rng.choices(CN_SURNAMES, weights=range(len(CN_SURNAMES), 0, -1))[0]
        given, given_py = rng.choice(CN_GIVEN_NAMES)
        city = rng.choices(CN_CITIES, weights=[c.weight for c in CN_CITIES])[0]
        holder.name = surname + given
        holder.national_id = _cn_national_id(rng)
        holder.language = "zh-hans"
        holder.time_zone = "Asia/Shanghai"
        holder.jurisdiction = "CN"
        holder.address = (
            f"{city.name}{rng.choice(city.districts)}{rng.choice(city.streets)}{rng.randint(1, 999)}号"
            f"{rng.randint(1, 30)}栋{rng.randint(1, 30)}{rng.randint(1, 4):02d}室"
        )
        if rng.random() < 0.6:
            holder.email = f"{surname_py}{given_py}{rng.randint(1, 9999)}@{rng.choice(EMAIL_DOMAINS)}"
        points = [self._point(holder, self._cn_mobile(), PartyRole.DEBTOR, "mobile", primary=True)]
        if holder.attorney_represented:
            lawyer = rng.choice(CN_SURNAMES)[0]
            firm = rng.choice(("正义", "明德", "君和"))
            holder.attorney_contact = f"{city.name.removesuffix('市')[-2:]}{firm}律师事务所 {lawyer}律师"
            office = f"+86{city.landline_area}{rng.randint(5, 8)}{rng.randrange(10**7):07d}"
            points.append(
                self._point(holder, office, PartyRole.ATTORNEY, "attorney", name=holder.attorney_contact)
            )
        if rng.random() < 0.3:
            landline = f"+86{city.landline_area}{rng.randint(2, 8)}{rng.randrange(10**7):07d}"
            points.append(self._point(holder, landline, PartyRole.DEBTOR, "work"))
        if rng.random() < 0.25:
            # 紧急联系人: given at application; not debt-related, so the policy limits contact with them.
            name = rng.choices(CN_SURNAMES, weights=range(len(CN_SURNAMES), 0, -1))[0][0]
            name += rng.choice(CN_GIVEN_NAMES)[0]
            points.append(
                self._point(
                    holder, self._cn_mobile(), PartyRole.UNRELATED_THIRD_PARTY, "emergency contact", name=name
                )
            )
        if holder.email:
            points.append(self._email(holder))
        return points

    def _us_person(self, holder: Cardholder) -> list[ContactPoint]:
        rng = self.rng
        first, last = rng.choice(EN_FIRST_NAMES), rng.choice(EN_LAST_NAMES)
        city = rng.choices(US_CITIES, weights=[c.weight for c in US_CITIES])[0]
        holder.name = f"{first} {last}"
        holder.national_id = f"9{rng.randrange(100):02d}-00-{rng.randrange(1, 10000):04d}"
        holder.language = "en"
        # A few zones are unknown: the contact policy then judges every candidate zone.
        holder.time_zone = "" if rng.random() < 0.06 else city.time_zone
        holder.jurisdiction = city.jurisdiction
        holder.address = (
            f"{rng.randint(1, 9999)} {rng.choice(US_STREETS)}, {city.name}, {city.state} "
            f"{city.zip3}{rng.randrange(100):02d}"
        )
        if rng.random() < 0.75:
            handle = f"{first}.{last}".lower().replace("'", "")
            holder.email = f"{handle}{rng.randint(1, 999)}@{rng.choice(EMAIL_DOMAINS)}"
        area = rng.choice(city.area_codes)
        points = [self._point(holder, self._us_number(area), PartyRole.DEBTOR, "mobile", primary=True)]
        if holder.attorney_represented:
            holder.attorney_contact = (
                f"Law Office of {rng.choice(EN_FIRST_NAMES)} {rng.choice(EN_LAST_NAMES)}"
            )
            office = self._us_number(rng.choice(city.area_codes))
            points.append(
                self._point(holder, office, PartyRole.ATTORNEY, "attorney", name=holder.attorney_contact)
            )
        if rng.random() < 0.35:
            points.append(self._point(holder, self._us_number(area), PartyRole.DEBTOR, "home"))
        if holder.email:
            points.append(self._email(holder))
        return points

    def _cn_mobile(self) -> str:
        return f"+86{self.rng.choice(CN_MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"

    def _us_number(self, area: str) -> str:
        return f"+1{area}55501{self.rng.randrange(100):02d}"

    @staticmethod
    def _point(holder, value, role, label, *, primary=False, name="") -> ContactPoint:
        return ContactPoint(
            cardholder=holder,
            kind=ContactPointKind.PHONE,
            value=value,
            party_role=role,
            party_name=name,
            label=label,
            is_primary=primary,
        )

    @staticmethod
    def _email(holder) -> ContactPoint:
        return ContactPoint(
            cardholder=holder,
            kind=ContactPointKind.EMAIL,
            value=holder.email,
            party_role=PartyRole.DEBTOR,
            label="personal",
            is_primary=True,
        )

    # Accounts

    def _dpd_for(self, bucket: str) -> int:
        if bucket == Bucket.CURRENT:
            return 0
        if bucket == Bucket.M6_PLUS:
            return self.rng.randint(self.boundaries[-1] + 1, self.boundaries[-1] + 360)
        index = delinquency.BUCKET_LABELS.index(bucket)
        lower = self.boundaries[index - 1] + 1 if index else 1
        return self.rng.randint(lower, self.boundaries[index])

    def _account(self, holder: Cardholder, country: str, k: int, bucket: str) -> CreditAccount:
        rng = self.rng
        product = rng.choices(*zip(*PRODUCT_WEIGHTS[country].items(), strict=True))[0]
        currency = "CNY" if country == "CN" else "USD"
        if country == "CN" and product == Product.CREDIT_CARD and rng.random() < 0.04:
            currency = "USD"  # a dual-currency card's dollar side
        amounts, weights = AMOUNTS[(country, product)]
        size = rng.choices(amounts, weights=weights)[0]
        if currency == "USD" and country == "CN":
            size = max(500, size // 7)
        dpd = self._dpd_for(bucket)
        missed = math.ceil(dpd / 30)
        if product == Product.INSTALLMENT_LOAN:
            term = rng.choice((12, 24, 36))
            elapsed = rng.randint(1, term - 1)
            installment = size * (1 + 0.06 * term / 12) / term
            credit_limit = 0.0
            principal = size * (term - elapsed) / term
            monthly_min = installment
        else:
            credit_limit = float(size)
            principal = size * rng.uniform(0.45, 1.0)
            minimum_rate, floor = (0.10, 100) if currency == "CNY" else (0.03, 25)
            monthly_min = max(floor, principal * minimum_rate)
        # China: 0.05% a day on the overdue balance and a 5% 违约金 per missed minimum (late fees are
        # banned since 2017); US: 25% APR and a late fee per missed cycle.
        accrual_days = dpd + rng.randint(0, 30)
        if country == "CN":
            interest = principal * 0.0005 * accrual_days
            fees = rng.choice((0, 0, 0, 200, 300, 600)) if product == Product.CREDIT_CARD else 0
            penalties = monthly_min * 0.05 * missed
        else:
            interest = principal * 0.25 / 365 * accrual_days
            fees = 35 * min(missed, 6) if product != Product.INSTALLMENT_LOAN else 30 * min(missed, 6)
            penalties = 0
        components = [_money(x) for x in (principal, interest, fees, penalties)]
        balance = sum(components, Decimal("0.00"))
        if dpd > self.boundaries[-1]:
            overdue = balance  # charged-off accounts are accelerated: the whole balance is due
        elif dpd:
            overdue = min(balance, _money(monthly_min * missed + interest + fees + penalties))
        else:
            overdue = Decimal("0.00")
        first_missed = self.today - timedelta(days=dpd) if dpd else None
        paid_before = (first_missed or self.today) - timedelta(days=rng.randint(1, 28))
        has_paid = rng.random() < 0.75
        tz = ZoneInfo(holder.time_zone or "America/New_York")
        last_paid_at = datetime.combine(paid_before, wall_time(rng.randint(8, 21), rng.randrange(60)), tz)
        external_ref = f"{holder.external_ref}-{PRODUCT_CODES[product]}{k + 1}"
        return CreditAccount(
            external_ref=external_ref,
            card_number=_card_number(external_ref, country) if product == Product.CREDIT_CARD else "",
            cardholder=holder,
            product=product,
            currency=currency,
            credit_limit=_money(credit_limit),
            principal=components[0],
            interest=components[1],
            fees=components[2],
            penalties=components[3],
            overdue_amount=overdue,
            minimum_due=min(balance, overdue + _money(monthly_min)),
            first_missed_due_date=first_missed,
            next_due_date=self.today + timedelta(days=rng.randint(1, 28)),
            days_past_due=dpd,
            bucket=delinquency.bucket_for(dpd, self.boundaries),
            dpd_as_of=self.today,
            last_payment_at=last_paid_at.astimezone(UTC) if has_paid else None,
            last_payment_amount=_money(monthly_min * rng.uniform(0.3, 1.0)) if has_paid else None,
            opened_on=(first_missed or self.today) - timedelta(days=rng.randint(120, 2500)),
        )


def _card_number(external_ref: str, country: str) -> str:
    """A 16-digit number with a valid check digit, made from the account's reference (not from the
    portfolio's random stream, so the rest of the demo is the same whether or not cards have numbers): a
    UnionPay (CN) or Visa (US) prefix, digits from a hash of the reference, the check digit. Synthetic."""
    prefix = "622126" if country == "CN" else "400000"
    body = prefix + str(int(hashlib.sha256(external_ref.encode()).hexdigest(), 16))[:9]
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # doubled: the check digit will be appended to the right
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)


def _unique_points(points: list[ContactPoint]) -> list[ContactPoint]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for point in points:
        if (point.kind, point.value) not in seen:
            seen.add((point.kind, point.value))
            unique.append(point)
    return unique


# --- Queues -------------------------------------------------------------------------------------------


def queues_ensure() -> list[Queue]:
    """The demo queues, with the team's agents on them. Existing queues (perhaps edited by an admin) are
    left as they are."""
    queues = []
    for name, team_name, order, criteria in DEMO_QUEUES:
        team = Team.objects.filter(name=team_name).first()
        queue, created = Queue.objects.get_or_create(
            name=name, defaults={"team": team, "order": order, **criteria}
        )
        if created and team is not None:
            queue.agents.add(*User.objects.filter(team=team, role=Role.AGENT, is_active=True))
        queues.append(queue)
    return queues


def cases_place_in_queues() -> None:
    queues.place_cases_in_queues()


__all__ = [
    "DEFAULT_SEED",
    "DEMO_QUEUES",
    "SeedSummary",
    "cases_place_in_queues",
    "queues_ensure",
    "seed_portfolio",
]
