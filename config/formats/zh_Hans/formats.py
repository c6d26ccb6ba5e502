# 简体中文: what Chinese bank systems print - numeric ISO dates (GB/T 7408) in lists, statements and
# transaction histories ("2026-06-03 14:05"), and 年月日 in letters and agreements ("2026年6月3日").
# 24-hour clock everywhere.
DATE_FORMAT = "Y年n月j日"  # 2026年6月3日
DATETIME_FORMAT = "Y年n月j日 H:i"  # 2026年6月3日 14:05
TIME_FORMAT = "H:i"  # 14:05
YEAR_MONTH_FORMAT = "Y年n月"  # 2026年6月
MONTH_DAY_FORMAT = "n月j日"  # 6月3日
SHORT_DATE_FORMAT = "Y-m-d"  # 2026-06-03
SHORT_DATETIME_FORMAT = "Y-m-d H:i"  # 2026-06-03 14:05
