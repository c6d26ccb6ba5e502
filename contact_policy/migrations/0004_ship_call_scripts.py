"""The shipped call scripts: China (identity and purpose), the US (mini-Miranda, validation notice), the UK
and the EU (generic), each in Chinese and English, for every stage. Admins edit them afterwards; the
migration never overwrites an existing script (a script of the same jurisdiction, language and stage)."""

from django.db import migrations

# code, required, English text, Chinese text. {agent_name} and {cardholder_name} are filled in on the page.
IDENTITY = (
    "identity",
    True,
    "My name is {agent_name}, calling from the bank's collections department.",
    "我是本行信用卡中心催收部门的工作人员{agent_name}。",
)
RIGHT_PARTY = (
    "right_party",
    True,
    "Confirm you are speaking with {cardholder_name} before you mention the debt.",
    "确认对方是{cardholder_name}本人后，再谈及欠款。",
)
RECORDING = (
    "recording",
    False,
    "This call is recorded.",
    "本次通话将被录音。",
)

SCRIPTS = {
    "CN": {
        "name": ("China: identity and purpose", "中国：表明身份与来意"),
        "opening": (
            "Hello, may I speak with {cardholder_name}? My name is {agent_name}, from the bank's credit "
            "card centre.",
            "您好，请问是{cardholder_name}吗？我是本行信用卡中心的工作人员{agent_name}。",
        ),
        "body": (
            "Explain the overdue amount and the ways to repay; ask the reason for the delay; agree a "
            "date. Never threaten, never mention third parties, never exaggerate the consequences.",
            "说明逾期金额与还款方式，询问逾期原因，约定还款日期。不得威胁、恐吓，不得向无关第三人透露欠款，"
            "不得夸大后果。",
        ),
        "statements": [
            IDENTITY,
            RIGHT_PARTY,
            (
                "purpose",
                True,
                "State the purpose: I am calling about the overdue amount on your credit card.",
                "说明来电目的：就您信用卡的逾期欠款与您联系。",
            ),
            RECORDING,
        ],
    },
    "US": {
        "name": ("United States: mini-Miranda", "美国：催收告知（mini-Miranda）"),
        "opening": (
            "Hello, may I speak with {cardholder_name}? My name is {agent_name}.",
            "您好，请问是{cardholder_name}吗？我是{agent_name}。",
        ),
        "body": (
            "Discuss the debt only with the consumer. Do not say the consumer owes a debt to anyone else.",
            "只与债务人本人谈论债务；不得向任何其他人表示债务人欠款。",
        ),
        "statements": [
            IDENTITY,
            RIGHT_PARTY,
            (
                "mini_miranda",
                True,
                "This is an attempt to collect a debt and any information obtained will be used for that "
                "purpose.",
                "这是一次催收债务的联系，所获得的任何信息都将用于此目的。",
            ),
            # Required in the initial communication only (Regulation F §1006.34): not a QA flag on every call.
            (
                "validation_notice",
                False,
                "Remind the consumer of the validation notice: they may dispute the debt or ask for the "
                "original creditor's name and address before the validation period ends.",
                "提醒债务人查看债务确认通知：在确认期结束前，可以对债务提出异议，或要求提供原债权人的名称和地址。",
            ),
            RECORDING,
        ],
    },
    "UK": {
        "name": ("United Kingdom: generic", "英国：通用"),
        "opening": (
            "Hello, may I speak with {cardholder_name}? My name is {agent_name}, from the bank.",
            "您好，请问是{cardholder_name}吗？我是本行的{agent_name}。",
        ),
        "body": (
            "Identify the customer before giving any detail of the account. Do not pressure; listen for "
            "signs of financial difficulty or vulnerability.",
            "在透露账户细节前先核实客户身份。不得施压；留意财务困难或弱势客户的迹象。",
        ),
        "statements": [
            IDENTITY,
            RIGHT_PARTY,
            (
                "purpose",
                True,
                "State the purpose: I am calling about the arrears on your account.",
                "说明来电目的：就您账户的欠款与您联系。",
            ),
            (
                "debt_advice",
                False,
                "Free, independent debt advice is available, for example from MoneyHelper.",
                "您可以获得免费、独立的债务咨询，例如 MoneyHelper。",
            ),
            RECORDING,
        ],
    },
    "EU": {
        "name": ("European Union: generic", "欧盟：通用"),
        "opening": (
            "Hello, may I speak with {cardholder_name}? My name is {agent_name}, from the bank.",
            "您好，请问是{cardholder_name}吗？我是本行的{agent_name}。",
        ),
        "body": (
            "Identify the customer before giving any detail of the account; use only the personal data the "
            "call needs.",
            "在透露账户细节前先核实客户身份；只使用本次通话所需的个人信息。",
        ),
        "statements": [
            IDENTITY,
            RIGHT_PARTY,
            (
                "purpose",
                True,
                "State the purpose: I am calling about the overdue amount on your account.",
                "说明来电目的：就您账户的逾期欠款与您联系。",
            ),
            (
                "data_protection",
                False,
                "We process your personal data to manage this debt; our privacy notice explains your rights.",
                "我们为处理本笔欠款而处理您的个人信息；隐私声明说明了您的权利。",
            ),
            RECORDING,
        ],
    },
}
LANGUAGES = ("en", "zh-hans")  # the index of each text pair


def create_scripts(apps, schema_editor):
    CallScript = apps.get_model("contact_policy", "CallScript")
    CallStatement = apps.get_model("contact_policy", "CallStatement")
    for jurisdiction, script in SCRIPTS.items():
        for index, language in enumerate(LANGUAGES):
            if CallScript.objects.filter(jurisdiction=jurisdiction, language=language, stage="any").exists():
                continue
            row = CallScript.objects.create(
                name=script["name"][index],
                jurisdiction=jurisdiction,
                language=language,
                stage="any",
                opening=script["opening"][index],
                body=script["body"][index],
            )
            CallStatement.objects.bulk_create(
                CallStatement(script=row, code=code, required=required, text=(en, zh)[index], order=order)
                for order, (code, required, en, zh) in enumerate(script["statements"], start=1)
            )


class Migration(migrations.Migration):
    dependencies = [("contact_policy", "0003_call_scripts")]

    operations = [migrations.RunPython(create_scripts, migrations.RunPython.noop)]
