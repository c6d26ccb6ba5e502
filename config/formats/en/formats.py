# English: ISO dates in lists and tables (the bank's staff read both languages, and 03/06 is ambiguous);
# the month written out in letters and agreements. 24-hour clock everywhere.
DATE_FORMAT = "j M Y"  # 3 Jun 2026
DATETIME_FORMAT = "j M Y H:i"  # 3 Jun 2026 14:05
TIME_FORMAT = "H:i"  # 14:05
YEAR_MONTH_FORMAT = "M Y"  # Jun 2026
MONTH_DAY_FORMAT = "j M"  # 3 Jun
SHORT_DATE_FORMAT = "Y-m-d"  # 2026-06-03
SHORT_DATETIME_FORMAT = "Y-m-d H:i"  # 2026-06-03 14:05
